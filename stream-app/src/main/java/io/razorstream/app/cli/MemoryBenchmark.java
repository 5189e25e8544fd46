package io.razorstream.app.cli;

import io.razorstream.app.metrics.TurnStageTimes;
import io.razorstream.proto.v1.AppendTurnsRequest;
import io.razorstream.proto.v1.ChatDone;
import io.razorstream.proto.v1.ChatRequest;
import io.razorstream.proto.v1.ChatResponse;
import io.razorstream.proto.v1.DeleteSessionRequest;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.MemoryServiceGrpc;
import io.razorstream.proto.v1.Turn;
import io.razorstream.proto.v1.TurnStages;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * What the service exists for, measured through gRPC: N sessions whose histories grow through the given lengths
 * (AppendTurns), and at each length M rounds in which every session sends a short Chat turn at the same time. Per
 * length: time to first token p50 / p99 over all those turns, and the aggregate decode rate of a round (every session's
 * generated tokens after its first / the time from the round's first first-token to its last reply's end); one session
 * alone for the single-session decode rate; and the stateless baseline, a fresh session that is sent the whole history
 * and then the turn (time from the history's send to the reply's first token), deleted after.
 */
final class MemoryBenchmark {
    /** Characters per filler history turn. */
    private static final int TURN_CHARS = 200;

    private static final String[] WORDS = {
        "the",
        "river",
        "carried",
        "small",
        "boats",
        "past",
        "old",
        "mills",
        "while",
        "children",
        "counted",
        "clouds",
        "and",
        "merchants",
        "argued",
        "about",
        "prices",
        "of",
        "salt",
        "grain",
        "wool",
        "copper",
        "in",
        "autumn"
    };

    /**
     * {@code stagesP50Ms}: the median of each server-side stage of the measured turns (TurnStages), in milliseconds.
     */
    /**
     * {@code allDecoding}: the aggregate rate while every session of a round is past its prefill and not done (0 when
     * there is no such moment): streamed text pieces in that window (a piece is one token, or a few held back together,
     * so this undercounts a little) over its length; the situation the engine's {@code bench --sessions} measures.
     */
    record Level(
            int history,
            int measuredTokens,
            double ttftP50,
            double ttftP99,
            double aggregateDecode,
            double allDecoding,
            double singleDecode,
            double reprefillTtftP50,
            Map<String, Double> stagesP50Ms) {}

    /**
     * One Chat turn as the client saw it (System.nanoTime() instants, one per streamed piece) and the server's stages.
     */
    private record Sample(
            long sent,
            long first,
            long end,
            int completionTokens,
            int sessionTokens,
            TurnStages stages,
            long[] pieces) {}

    private final Supplier<MemoryServiceGrpc.MemoryServiceBlockingStub> stub;
    private final int sessions, turns, replyTokens, reprefillRuns;
    private final Random random = new Random(3);

    MemoryBenchmark(
            Supplier<MemoryServiceGrpc.MemoryServiceBlockingStub> stub,
            int sessions,
            int turns,
            int replyTokens,
            int reprefillRuns) {
        this.stub = stub;
        this.sessions = sessions;
        this.turns = turns;
        this.replyTokens = replyTokens;
        this.reprefillRuns = reprefillRuns;
    }

    List<Level> run(int[] histories, PrintWriter progress) throws Exception {
        int[] levels = histories.clone();
        Arrays.sort(levels);
        String run = Long.toString(System.currentTimeMillis(), 36);
        List<String> ids = new ArrayList<>();
        for (int s = 0; s < sessions; s++) ids.add("memory-" + run + "-" + s);
        int[] tokens = new int[sessions];
        List<Level> out = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(sessions);
        try {
            for (int level : levels) {
                // Grow every session to the level, at the same time (their prefills share the engine's passes).
                List<Future<Integer>> grown = new ArrayList<>();
                for (int s = 0; s < sessions; s++) {
                    int session = s, from = tokens[s];
                    grown.add(pool.submit(() -> grow(ids.get(session), from, level)));
                }
                for (int s = 0; s < sessions; s++) tokens[s] = grown.get(s).get();
                List<Double> ttft = new ArrayList<>();
                List<Double> aggregate = new ArrayList<>(), allDecoding = new ArrayList<>();
                List<TurnStages> stages = new ArrayList<>();
                for (int round = 0; round < turns; round++) {
                    List<Future<Sample>> replies = new ArrayList<>();
                    for (int s = 0; s < sessions; s++) {
                        String id = ids.get(s);
                        replies.add(pool.submit(() -> chat(id)));
                    }
                    long firstFirst = Long.MAX_VALUE,
                            lastDone = 0,
                            decoded = 0,
                            lastFirst = 0,
                            firstDone = Long.MAX_VALUE;
                    List<Sample> samples = new ArrayList<>();
                    for (int s = 0; s < sessions; s++) {
                        Sample r = replies.get(s).get();
                        samples.add(r);
                        lastFirst = Math.max(lastFirst, r.first());
                        firstDone = Math.min(firstDone, r.end());
                        ttft.add((r.first() - r.sent()) / 1e6);
                        firstFirst = Math.min(firstFirst, r.first());
                        lastDone = Math.max(lastDone, r.end());
                        decoded += Math.max(0, r.completionTokens() - 1);
                        tokens[s] = r.sessionTokens();
                        stages.add(r.stages());
                    }
                    if (lastDone > firstFirst) aggregate.add(decoded / ((lastDone - firstFirst) / 1e9));
                    if (firstDone > lastFirst) {
                        long from = lastFirst, to = firstDone, inWindow = 0;
                        for (Sample r : samples) for (long t : r.pieces()) if (t > from && t <= to) inWindow++;
                        allDecoding.add(inWindow / ((to - from) / 1e9));
                    } else {
                        allDecoding.add(0.0);
                    }
                }
                Sample alone = chat(ids.get(0));
                tokens[0] = alone.sessionTokens();
                double single = alone.end() > alone.first()
                        ? Math.max(0, alone.completionTokens() - 1) / ((alone.end() - alone.first()) / 1e9)
                        : 0;
                List<Double> reprefill = new ArrayList<>();
                for (int k = 0; k < reprefillRuns; k++) reprefill.add(reprefill(run + "-" + level + "-" + k, level));
                Level l = new Level(
                        level,
                        tokens[0],
                        pct(ttft, 50),
                        pct(ttft, 99),
                        pct(aggregate, 50),
                        pct(allDecoding, 50),
                        single,
                        pct(reprefill, 50),
                        stageMedians(stages));
                out.add(l);
                progress.printf(
                        Locale.ROOT,
                        "history %d (sessions at %d tokens): TTFT p50 %.0f ms, p99 "
                                + "%.0f ms; re-prefill TTFT p50 %.0f ms; "
                                + "decode %.2f tokens/s aggregate (%.2f while all decode), %.2f alone%n",
                        level,
                        tokens[0],
                        l.ttftP50(),
                        l.ttftP99(),
                        l.reprefillTtftP50(),
                        l.aggregateDecode(),
                        l.allDecoding(),
                        l.singleDecode());
                progress.flush();
            }
        } finally {
            pool.shutdownNow();
        }
        return out;
    }

    /**
     * Appends filler turns to the session until it holds at least {@code target} tokens; returns what it holds. The
     * first call sends one turn to learn the tokenizer's tokens per turn, later ones as many turns as should reach the
     * target (at most 4 a call: a call must end within the deadline while N sessions share the engine), so a session
     * overshoots by less than a turn.
     */
    private int grow(String id, int tokens, int target) {
        double perTurn = 0;
        while (tokens < target) {
            int count = perTurn <= 0 ? 1 : (int) Math.max(1, Math.min(4, Math.ceil((target - tokens) / perTurn)));
            AppendTurnsRequest.Builder req = AppendTurnsRequest.newBuilder().setSessionId(id);
            for (int k = 0; k < count; k++)
                req.addTurns(Turn.newBuilder()
                        .setTurnId("history-" + tokens + "-" + k)
                        .setText(filler()));
            int now = (int) stub.get().appendTurns(req.build()).getCache().getTokens();
            perTurn = (double) (now - tokens) / count;
            tokens = now;
        }
        return tokens;
    }

    /** The median of each stage over {@code stages}, in milliseconds, in the order a turn goes through them. */
    static Map<String, Double> stageMedians(List<TurnStages> stages) {
        List<Map<String, Long>> byTurn =
                stages.stream().map(TurnStageTimes::micros).toList();
        Map<String, Double> out = new LinkedHashMap<>();
        for (String name :
                TurnStageTimes.micros(TurnStages.getDefaultInstance()).keySet()) {
            out.put(name, pct(byTurn.stream().map(m -> m.get(name) / 1e3).toList(), 50));
        }
        return out;
    }

    /** One short Chat turn. */
    private Sample chat(String id) {
        long sent = System.nanoTime();
        Iterator<ChatResponse> it = stub.get()
                .chat(ChatRequest.newBuilder()
                        .setSessionId(id)
                        .setTurnId("q-" + random.nextLong())
                        .setText(" what did the merchants argue about in autumn? ")
                        .setParams(GenerationParams.newBuilder().setMaxTokens(replyTokens))
                        .build());
        long first = 0;
        ChatDone done = null;
        List<Long> pieces = new ArrayList<>();
        while (it.hasNext()) {
            ChatResponse r = it.next();
            if (r.hasDelta()) {
                long now = System.nanoTime();
                if (first == 0) first = now;
                pieces.add(now);
            }
            if (r.hasDone()) done = r.getDone();
        }
        long end = System.nanoTime();
        if (first == 0) first = end;
        long[] times = pieces.stream().mapToLong(Long::longValue).toArray();
        return done == null
                ? new Sample(sent, first, end, 0, 0, TurnStages.getDefaultInstance(), times)
                : new Sample(
                        sent,
                        first,
                        end,
                        done.getCompletionTokens(),
                        (int) done.getCache().getTokens(),
                        done.getStages(),
                        times);
    }

    /** A stateless server's turn: the whole history sent again, then the question; time to the first token. */
    private double reprefill(String suffix, int history) {
        String id = "reprefill-" + suffix;
        long t0 = System.nanoTime();
        grow(id, 0, history);
        Sample r = chat(id);
        stub.get()
                .deleteSession(
                        DeleteSessionRequest.newBuilder().setSessionId(id).build());
        return (r.first() - t0) / 1e6;
    }

    private String filler() {
        StringBuilder b = new StringBuilder(" ");
        while (b.length() < TURN_CHARS)
            b.append(WORDS[random.nextInt(WORDS.length)]).append(' ');
        return b.toString();
    }

    private static double pct(List<Double> xs, double p) {
        if (xs.isEmpty()) return 0;
        return BenchServiceCommand.pct(
                xs.stream().mapToDouble(Double::doubleValue).toArray(), p);
    }

    /** history length -> value, for the JSON object. */
    static TreeMap<Integer, Double> byHistory(List<Level> levels, ToDoubleFunction<Level> f) {
        TreeMap<Integer, Double> m = new TreeMap<>();
        for (Level l : levels) m.put(l.history(), f.applyAsDouble(l));
        return m;
    }
}
