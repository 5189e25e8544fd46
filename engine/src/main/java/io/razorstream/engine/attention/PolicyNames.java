package io.razorstream.engine.attention;

import java.util.List;

/**
 * The cache policies the tools know by name (eval, bench, the store benchmark): one parser, so that a name means the
 * same policy everywhere. A name is resolved against a {@link Context}: the model's shape, the retrieval heads the tool
 * chose (a head profile, or {@link HeadSelection}), the window of the non-retrieval heads, and the sequence length at
 * which the budget baselines are given Razor's entries.
 */
public final class PolicyNames {
    /** Every name, in the order the tools list them. */
    public static final List<String> NAMES = List.of(
            "full",
            "razor",
            "razor-paper",
            "razor-nocomp",
            "razor-noecho",
            "streaming",
            "h2o",
            "snapkv",
            "moa",
            "random");

    /**
     * What names resolve against. {@code inductionOnly} (razor-noecho) may be null when that name is not used;
     * {@code compensated} (the window heads a calibrated profile gives the compensation token) null for none;
     * {@code spans} (moa) may be null when that name is not used; {@code tokens} is the sequence length the budget
     * baselines (streaming, h2o, snapkv, moa) are matched at.
     */
    public record Context(
            int layers,
            int kvHeads,
            boolean[][] retrieval,
            boolean[][] inductionOnly,
            boolean[][] compensated,
            SpanProfile spans,
            WindowParams window,
            int tokens) {
        boolean[][] compensatedOrNone() {
            return compensated != null ? compensated : new boolean[layers][kvHeads];
        }
    }

    private PolicyNames() {}

    /** Null when {@code name} is known, else a one-line error naming the known ones. */
    public static String problem(String name) {
        return NAMES.contains(name) ? null : "unknown policy '" + name + "' (known: " + String.join(", ", NAMES) + ")";
    }

    /** The policy a name means in {@code c}. */
    public static KvPolicy parse(String name, Context c) {
        String problem = problem(name);
        if (problem != null) throw new IllegalArgumentException(problem);
        WindowParams w = c.window();
        return switch (name) {
            case "full" -> KvPolicy.full(c.layers(), c.kvHeads());
            case "razor" -> razor(c);
            // the paper's formula on every window head: mean post-RoPE key and value, + ln n
            case "razor-paper" -> KvPolicy.razor(c.retrieval(), w);
            case "razor-nocomp" -> KvPolicy.razor(c.retrieval(), w.withoutCompensation());
            case "razor-noecho" -> {
                if (c.inductionOnly() == null)
                    throw new IllegalArgumentException("razor-noecho needs the profile's induction heads");
                yield KvPolicy.razor(c.inductionOnly(), c.compensatedOrNone(), w);
            }
            // Razor with as many FULL heads, at random among the others (fixed seed)
            case "random" ->
                KvPolicy.razor(
                        HeadSelection.random(
                                c.layers(), c.kvHeads(), HeadSelection.marked(c.retrieval()), 13, c.retrieval()),
                        c.compensatedOrNone(),
                        w);
            case "streaming" ->
                KvPolicy.razor(
                        new boolean[c.layers()][c.kvHeads()],
                        new WindowParams(w.sinks(), Math.max(1, razorEntriesPerHead(c) - w.sinks()), Integer.MAX_VALUE)
                                .withoutCompensation());
            case "snapkv" -> {
                int budget = Math.max(2, razorEntriesPerHead(c));
                yield KvPolicy.snapKV(c.layers(), c.kvHeads(), budget, Math.min(budget, w.minWindow()));
            }
            // per-head elastic windows from a span profile, spending Razor's entries where they save the most attention
            // mass
            case "moa" -> {
                if (c.spans() == null) throw new IllegalArgumentException("moa needs a span profile (SpanMeasurement)");
                yield c.spans().policy(razor(c).entries(c.tokens(), -1), c.tokens());
            }
            case "h2o" -> {
                int budget = Math.max(2, razorEntriesPerHead(c));
                yield KvPolicy.heavyHitters(c.layers(), c.kvHeads(), budget, budget / 2);
            }
            default -> throw new IllegalStateException(name);
        };
    }

    /**
     * Razor's entries at the context's length (its spec formula), spread evenly over all heads: the budget the
     * baselines get.
     */
    static int razorEntriesPerHead(Context c) {
        return (int) (razor(c).entries(c.tokens(), -1) / ((long) c.layers() * c.kvHeads()));
    }

    /**
     * The default Razor policy: the retrieval heads FULL, the compensation token where the profile's calibration chose
     * it.
     */
    private static KvPolicy razor(Context c) {
        return KvPolicy.razor(c.retrieval(), c.compensatedOrNone(), c.window());
    }
}
