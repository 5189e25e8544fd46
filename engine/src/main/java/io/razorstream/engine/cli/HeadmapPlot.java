package io.razorstream.engine.cli;

import io.razorstream.engine.profile.HeadProfile;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A PNG with the profile's layers x heads heatmaps side by side: each score of its method (razor: induction and echo
 * per query head; the needle methods: their KV-head score), then the chosen retrieval heads and, once calibrated, the
 * window heads that keep the compensation token.
 */
final class HeadmapPlot {
    private HeadmapPlot() {}

    static void write(HeadProfile profile, Path png) throws IOException {
        System.setProperty("java.awt.headless", "true");
        List<BufferedImage> panels = new ArrayList<>();
        String method = profile.method().label();
        for (String name : shown(profile))
            panels.add(BitmapEncoder.getBufferedImage(chart(method + ": " + name, normalised(profile.score(name)))));
        panels.add(
                BitmapEncoder.getBufferedImage(chart(method + ": retrieval heads (KV)", marks(profile.retrieval()))));
        if (profile.compensation() != null)
            panels.add(BitmapEncoder.getBufferedImage(chart("compensation token (KV)", marks(profile.compensated()))));
        int width = panels.stream().mapToInt(BufferedImage::getWidth).sum(),
                height =
                        panels.stream().mapToInt(BufferedImage::getHeight).max().orElse(1);
        BufferedImage both = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        var g = both.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, both.getWidth(), both.getHeight());
        int x = 0;
        for (BufferedImage panel : panels) {
            g.drawImage(panel, x, 0, null);
            x += panel.getWidth();
        }
        g.dispose();
        String name = png.toString();
        ImageIO.write(both, "png", png.toFile());
        if (!png.toFile().isFile()) throw new IOException("could not write " + name);
    }

    /** The razor method's per-query-head scores, or the needle methods' KV-head score. */
    private static List<String> shown(HeadProfile profile) {
        return switch (profile.method()) {
            case RAZOR -> List.of("induction", "echo");
            case RETRIEVAL_SCORE -> List.of("retrievalScore");
            case INFLUENCE -> List.of("kvInfluence");
            case DUO -> List.of("kvGate");
        };
    }

    /** Scores in [0, 1] as they are; others (influence, in nats) over their maximum. */
    private static double[][] normalised(double[][] scores) {
        double max = 0;
        for (double[] row : scores) for (double v : row) max = Math.max(max, v);
        if (max <= 1) return scores;
        double[][] out = new double[scores.length][];
        for (int l = 0; l < scores.length; l++) {
            out[l] = scores[l].clone();
            for (int h = 0; h < out[l].length; h++) out[l][h] /= max;
        }
        return out;
    }

    private static double[][] marks(boolean[][] heads) {
        double[][] out = new double[heads.length][heads[0].length];
        for (int l = 0; l < heads.length; l++)
            for (int h = 0; h < heads[l].length; h++) out[l][h] = heads[l][h] ? 1 : 0;
        return out;
    }

    private static HeatMapChart chart(String title, double[][] scores) {
        int layers = scores.length, heads = scores[0].length;
        HeatMapChart chart = new HeatMapChartBuilder()
                .width(Math.max(360, 40 * heads + 160))
                .height(Math.max(300, 30 * layers + 140))
                .title(title)
                .xAxisTitle("head")
                .yAxisTitle("layer")
                .build();
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
