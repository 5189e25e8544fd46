package io.razorstream.engine.bench;

import com.sun.management.ThreadMXBean;
import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPolicy;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.attention.RandomContext;
import io.razorstream.engine.generation.Decoder;
import io.razorstream.engine.grammar.Grammar;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.kernel.WeightMatrix;
import io.razorstream.engine.model.ModelWeights;
import io.razorstream.engine.model.PassCounts;
import io.razorstream.engine.model.Transformer;
import io.razorstream.engine.sampling.SamplerConfig;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Prefill and decode throughput of a model: a warm-up run, then repeated runs whose medians are reported, next to the
 * decode ceiling that memory bandwidth allows (weight bytes read per token vs measured bytes/s).
 */
public final class Benchmark {

    public record Result(
            String model,
            int threads,
            int promptTokens,
            int genTokens,
            int repeats,
            double prefillTokensPerSecond,
            double decodeTokensPerSecond,
            double[] prefillRuns,
            double[] decodeRuns,
            long modelBytes,
            long bytesPerDecodedToken,
            double bandwidthBytesPerSecond,
            double ceilingTokensPerSecond,
            long decodeAllocatedBytesPerToken) {}

    /** Bytes allocated by all threads (the decode loop's caller and the compute workers). */
    private static final ThreadMXBean ALLOCATION = (ThreadMXBean) ManagementFactory.getThreadMXBean();

    private Benchmark() {}

    public static Result run(
            LoadedModel loaded, int promptTokens, int genTokens, int repeats, int warmups, Parallel parallel) {
        return run(loaded, promptTokens, genTokens, repeats, warmups, parallel, null);
    }

    /** As above, every reply kept inside {@code grammar} (null: free), to price grammar-constrained decoding. */
    public static Result run(
            LoadedModel loaded,
            int promptTokens,
            int genTokens,
            int repeats,
            int warmups,
            Parallel parallel,
            Grammar grammar) {
        Transformer model = loaded.model();
        checkLengths(promptTokens, genTokens, model.config().contextLength());
        int[] prompt = randomTokens(promptTokens, model.config().vocabularySize());
        Decoder decoder = loaded.decoder(parallel);
        // Greedy, past end-of-generation tokens: exactly genTokens - 1 decode steps per run (the last token is not
        // fed).
        Decoder.Request request = Decoder.Request.of(SamplerConfig.GREEDY, genTokens)
                .ignoringEndOfGeneration()
                .withGrammar(grammar);
        double[] prefill = new double[repeats], decode = new double[repeats];
        long allocated = 0;
        for (int run = -warmups; run < repeats; run++) {
            long allocatedBefore = ALLOCATION.getTotalThreadAllocatedBytes();
            double[] speeds = once(model, decoder, prompt, genTokens, request);
            allocated =
                    ALLOCATION.getTotalThreadAllocatedBytes() - allocatedBefore; // the last run's, the most warmed up
            if (run >= 0) {
                prefill[run] = speeds[0];
                decode[run] = speeds[1];
            }
        }
        long perToken = decodeBytesPerToken(model);
        double bandwidth = MemoryBandwidth.bytesPerSecond(parallel, 1L << 30, 5);
        return new Result(
                loaded.gguf().path().getFileName().toString(),
                parallel.threads(),
                promptTokens,
                genTokens,
                repeats,
                median(prefill),
                median(decode),
                prefill,
                decode,
                loaded.gguf().fileSize(),
                perToken,
                bandwidth,
                bandwidth / perToken,
                allocated / genTokens);
    }

    private static void checkLengths(int promptTokens, int genTokens, int context) {
        if (promptTokens < 1 || genTokens < 1 || promptTokens + genTokens > context) {
            throw new IllegalArgumentException(
                    "need 1 <= prompt tokens, 1 <= gen tokens and their sum <= context " + context);
        }
    }

    /** One prefill of {@code prompt} and greedy decode: {prefill tokens/s, decode tokens/s}. */
    private static double[] once(
            Transformer model, Decoder decoder, int[] prompt, int genTokens, Decoder.Request request) {
        KvCache cache = model.newCache(prompt.length + genTokens, KvPrecision.F16);
        long t0 = System.nanoTime();
        float[] logits = decoder.prefill(cache, prompt);
        long t1 = System.nanoTime();
        Decoder.Reply reply = decoder.generate(cache, cache.maxTokens(), logits, request, null);
        return new double[] {prompt.length / ((t1 - t0) / 1e9), reply.tokensPerSecond()};
    }

    /** Two models alternated in one process: decode tokens/s of each per round, and each round's ratio b / a. */
    public record Comparison(String a, String b, double[] decodeA, double[] decodeB, double[] ratios) {
        public double medianRatio() {
            return median(ratios);
        }
    }

    /**
     * {@code a} and {@code b} run in turn, ABBA (a round's first model alternates), in one process and on one thread
     * pool, so what differs between processes (core placement, compiled code) cancels; each round's ratio is of two
     * runs made seconds apart. The models must share a vocabulary size (the same random prompt feeds both).
     */
    public static Comparison compare(
            LoadedModel a,
            LoadedModel b,
            int promptTokens,
            int genTokens,
            int repeats,
            int warmups,
            Parallel parallel) {
        int vocab =
                Math.min(a.model().config().vocabularySize(), b.model().config().vocabularySize());
        checkLengths(
                promptTokens,
                genTokens,
                Math.min(a.model().config().contextLength(), b.model().config().contextLength()));
        int[] prompt = randomTokens(promptTokens, vocab);
        Decoder.Request request =
                Decoder.Request.of(SamplerConfig.GREEDY, genTokens).ignoringEndOfGeneration();
        Decoder da = a.decoder(parallel), db = b.decoder(parallel);
        double[] decodeA = new double[repeats], decodeB = new double[repeats], ratios = new double[repeats];
        for (int run = -warmups; run < repeats; run++) {
            boolean aFirst = Math.floorMod(run, 2) == 0;
            double x = 0, y = 0;
            for (int turn = 0; turn < 2; turn++) {
                if ((turn == 0) == aFirst) x = once(a.model(), da, prompt, genTokens, request)[1];
                else y = once(b.model(), db, prompt, genTokens, request)[1];
            }
            if (run >= 0) {
                decodeA[run] = x;
                decodeB[run] = y;
                ratios[run] = y / x;
            }
        }
        return new Comparison(
                a.gguf().path().getFileName().toString(),
                b.gguf().path().getFileName().toString(),
                decodeA,
                decodeB,
                ratios);
    }

    /**
     * One session's decode against {@code sessions} decoding at once, per round: tokens/s and each round's ratio
     * aggregate / single.
     */
    public record ConcurrentResult(
            int sessions, double[] single, double[] aggregate, double[] ratios, double rowsPerPass) {
        public double medianRatio() {
            return median(ratios);
        }
    }

    /**
     * Continuous batching's gain: in each round one session decodes alone, then {@code sessions} sessions (threads,
     * each with its own cache and the same prompt) prefill and then decode at the same time, their steps sharing
     * forward passes; aggregate decode = all sessions' decoded tokens / the wall time from the last prefill's end to
     * the last reply's end. The round's ratio aggregate / single compares runs made seconds apart.
     */
    public static ConcurrentResult concurrent(
            LoadedModel loaded,
            int sessions,
            int promptTokens,
            int genTokens,
            int repeats,
            int warmups,
            Parallel parallel) {
        if (sessions < 1) throw new IllegalArgumentException("sessions must be >= 1, got " + sessions);
        Transformer model = loaded.model();
        checkLengths(promptTokens, genTokens, model.config().contextLength());
        int[] prompt = randomTokens(promptTokens, model.config().vocabularySize());
        Decoder decoder = loaded.decoder(parallel);
        Decoder.Request request =
                Decoder.Request.of(SamplerConfig.GREEDY, genTokens).ignoringEndOfGeneration();
        double[] single = new double[repeats], aggregate = new double[repeats], ratios = new double[repeats];
        PassCounts before = model.passCounts();
        ExecutorService pool = Executors.newFixedThreadPool(sessions);
        try {
            for (int run = -warmups; run < repeats; run++) {
                double alone = once(model, decoder, prompt, genTokens, request)[1];
                if (run == 0) before = model.passCounts();
                CyclicBarrier prefilled = new CyclicBarrier(sessions);
                long[] decodeStart = new long[1];
                List<Future<Long>> ends = new ArrayList<>();
                for (int s = 0; s < sessions; s++) {
                    ends.add(pool.submit(() -> {
                        KvCache cache = model.newCache(prompt.length + genTokens, KvPrecision.F16);
                        float[] logits = decoder.prefill(cache, prompt);
                        if (prefilled.await() == 0) decodeStart[0] = System.nanoTime(); // the last to arrive
                        decoder.generate(cache, cache.maxTokens(), logits, request, null);
                        return System.nanoTime();
                    }));
                }
                long last = 0;
                for (Future<Long> f : ends) last = Math.max(last, f.get());
                double together = (double) sessions * (genTokens - 1) / ((last - decodeStart[0]) / 1e9);
                if (run >= 0) {
                    single[run] = alone;
                    aggregate[run] = together;
                    ratios[run] = together / alone;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("a session failed: " + e.getCause(), e.getCause());
        } finally {
            pool.shutdownNow();
        }
        return new ConcurrentResult(
                sessions,
                single,
                aggregate,
                ratios,
                model.passCounts().since(before).meanRows());
    }

    public record ContextResult(
            int context,
            int genTokens,
            double decodeTokensPerSecond,
            double[] runs,
            long cacheBytes,
            long fullCacheBytes) {}

    /**
     * Decode speed with {@code context} tokens already in the cache (random keys and values, no prefill), under a cache
     * policy: the attention share of decode grows with the context, which is what a compressed cache saves.
     */
    public static ContextResult decodeAtContext(
            LoadedModel loaded,
            int context,
            int genTokens,
            int repeats,
            KvPolicy policy,
            KvPrecision precision,
            Parallel parallel) {
        Transformer model = loaded.model();
        if (context < 1 || context + genTokens > model.config().contextLength()) {
            throw new IllegalArgumentException("need 1 <= context and context + gen tokens <= "
                    + model.config().contextLength());
        }
        double[] runs = new double[repeats];
        long bytes = 0, full = 0;
        Decoder decoder = loaded.decoder(parallel);
        Decoder.Request request =
                Decoder.Request.of(SamplerConfig.GREEDY, genTokens).ignoringEndOfGeneration();
        for (int run = -1; run < repeats; run++) {
            KvCache cache = model.newCache(context + genTokens, precision, policy);
            RandomContext.append(cache, context, 11);
            long t0 = System.nanoTime();
            // genTokens steps at this context: token 1, then genTokens - 1 greedy ones (the last is not fed)
            float[] logits = decoder.prefill(cache, new int[] {1});
            decoder.generate(cache, cache.maxTokens(), logits, request, null);
            long t1 = System.nanoTime();
            if (run >= 0) runs[run] = genTokens / ((t1 - t0) / 1e9);
            bytes = cache.bytesInUse();
            full = cache.fullBytes();
        }
        return new ContextResult(context, genTokens, median(runs), runs, bytes, full);
    }

    /** Weight bytes one decode step reads: every matrix once, plus one embedding row. */
    static long decodeBytesPerToken(Transformer model) {
        ModelWeights w = model.weights();
        long bytes = w.output().byteSize()
                + w.tokenEmbedding().byteSize() / w.tokenEmbedding().rows();
        for (ModelWeights.Layer l : w.layers()) {
            for (WeightMatrix m : new WeightMatrix[] {l.wq(), l.wk(), l.wv(), l.wo(), l.gate(), l.up(), l.down()})
                bytes += m.byteSize();
        }
        return bytes;
    }

    private static int[] randomTokens(int n, int vocab) {
        SplittableRandom r = new SplittableRandom(7);
        int[] t = new int[n];
        t[0] = 1;
        for (int i = 1; i < n; i++) t[i] = 3 + r.nextInt(vocab - 3);
        return t;
    }

    /** The median of {@code x} (the mean of the middle two for an even count). */
    public static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
