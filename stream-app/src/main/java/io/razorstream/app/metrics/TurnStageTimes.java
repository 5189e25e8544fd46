package io.razorstream.app.metrics;

import com.google.protobuf.Descriptors.FieldDescriptor;
import io.razorstream.proto.v1.TurnStages;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A turn's stages by name ("queued", "waited", ... "committed"), in the order a turn goes through them, read from the
 * {@link TurnStages} message itself: the metrics, the turn log and the benchmark name the stages from this one place,
 * so a stage added to the proto shows up in all of them.
 */
public final class TurnStageTimes {
    /** The stage measured where a call waits for its reply, not by the processor that applied the turn. */
    public static final String COMMITTED = "committed";

    private TurnStageTimes() {}

    /** Every stage of {@code stages}, name to microseconds (0: not gone through, or not measured there). */
    public static Map<String, Long> micros(TurnStages stages) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (FieldDescriptor f : TurnStages.getDescriptor().getFields()) out.put(name(f), (Long) stages.getField(f));
        return out;
    }

    private static String name(FieldDescriptor f) {
        return f.getName().replace("_micros", "");
    }
}
