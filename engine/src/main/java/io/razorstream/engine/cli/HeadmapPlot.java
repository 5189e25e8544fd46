package io.razorstream.engine.cli;

import io.razorstream.engine.profile.HeadProfile;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A PNG with two layers x heads heatmaps, induction and echo scores side by side. */
final class HeadmapPlot {
    private HeadmapPlot() {}

    static void write(HeadProfile profile, Path png) throws IOException {
        System.setProperty("java.awt.headless", "true");
        HeatMapChart induction = chart("Induction score", profile.induction());
        HeatMapChart echo = chart("Echo score", profile.echo());
        BufferedImage left = BitmapEncoder.getBufferedImage(induction), right = BitmapEncoder.getBufferedImage(echo);
        BufferedImage both = new BufferedImage(left.getWidth() + right.getWidth(), Math.max(left.getHeight(), right.getHeight()),
                BufferedImage.TYPE_INT_RGB);
        var g = both.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, both.getWidth(), both.getHeight());
        g.drawImage(left, 0, 0, null);
        g.drawImage(right, left.getWidth(), 0, null);
        g.dispose();
        String name = png.toString();
        javax.imageio.ImageIO.write(both, "png", png.toFile());
        if (!png.toFile().isFile()) throw new IOException("could not write " + name);
    }

    private static HeatMapChart chart(String title, double[][] scores) {
        int layers = scores.length, heads = scores[0].length;
        HeatMapChart chart = new HeatMapChartBuilder().width(Math.max(360, 40 * heads + 160)).height(Math.max(300, 30 * layers + 140))
                .title(title).xAxisTitle("head").yAxisTitle("layer").build();
        chart.getStyler().setShowValue(heads <= 16 && layers <= 16);
        chart.getStyler().setMin(0);
        chart.getStyler().setMax(1);
        List<Integer> x = new ArrayList<>(), y = new ArrayList<>();
        for (int h = 0; h < heads; h++) x.add(h);
        for (int l = 0; l < layers; l++) y.add(l);
        List<Number[]> cells = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) cells.add(new Number[] {h, l, Math.round(scores[l][h] * 1000) / 1000.0});
        }
        chart.addSeries(title, x, y, cells);
        return chart;
    }
}
