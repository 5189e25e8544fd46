package io.razorstream.engine.model;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.attention.KvCache;
import io.razorstream.engine.attention.KvPrecision;
import io.razorstream.engine.gguf.GgufFile;
import io.razorstream.engine.gguf.GgufFormatException;
import io.razorstream.engine.kernel.Gemm;
import io.razorstream.engine.kernel.GgmlType;
import io.razorstream.engine.kernel.NativeVariantUnderTest;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.model.ReferenceLlama.Rounding;
import io.razorstream.engine.model.ReferenceLlama.Variant;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link Transformer} against {@link ReferenceLlama}, an independent scalar implementation of the same math, on tiny
 * random models ({@link TinyLlamaFiles}) in every supported weight type, tied and untied; plus the engine's own
 * consistency guarantees (prefill = decode, thread count, KV precision, metadata defaults) and its errors for missing
 * or misshapen tensors.
 *
 * <p>The models: d=64, 2 layers, 4 heads of 16, 2 KV heads (GQA groups of 2), ff=96 (a multiple of the 32-element Q
 * blocks), vocab 300, context 64. Weights ~ N(0, 0.05), so logits are O(1) (|logit| up to about 2.4). The reference
 * tests use a non-default RoPE base (1000) and RMS epsilon (5e-4) so that an engine ignoring those keys fails.
 *
 * <h2>Tolerances</h2>
 *
 * Measured over 8 seeds x tied/untied (max |engine - reference| over all 20 positions x 300 logits), and the smallest
 * effect of a deliberate bug ({@link Variant}) over the same runs:
 *
 * <pre>
 * type   vs LIKE_LLAMA_CPP   vs exact math (NONE)
 * F32    4.8e-7              3.6e-7
 * F16    5.1e-4              7.8e-4
 * BF16   3.3e-7              7.2e-3
 * Q8_0   1.3e-7              2.5e-2
 * Q4_0   2.4e-7              2.5e-2
 * smallest bug effect: ROPE_BASE_IGNORED 3.2e-2, RMS_EPS_IGNORED 7.7e-2, NO_ROPE 8.7e-2, the rest >= 0.1
 * </pre>
 *
 * {@link #LIKE_LLAMA_CPP_TOLERANCE}: with the engine's activation rounding reproduced, what is left is float-vs-double
 * rounding (~1e-7 relative per operation, a few 1e-7 on the logits) and, now and then, an activation that this noise
 * pushes across a rounding boundary of the dot type ("flip"): one element then moves by one step of that type, 2^-11
 * relative for F16 (seen: up to 5e-4 on the logits), 2^-8 for BF16 and about amax/127 for Q8_0 inputs (seen: up to 4e-3
 * in exploratory runs). So: F32 1e-5 (20x the measured error), F16 2e-3, BF16/Q8_0/Q4_0 1e-2 (2.5x the largest flip
 * seen); all at least 3x below the smallest bug effect, which {@link #tolerancesCatchPlausibleBugs} checks on every
 * run.
 *
 * <p>{@link #EXACT_MATH_TOLERANCE}: against the unrounded math, the activation rounding itself shows: F16 rounds inputs
 * to 2^-11 relative, BF16 to 2^-8, Q8_0 to amax/254 per 32-block (largest, as the block's small elements lose most);
 * propagated through 2 layers these give the measured 8e-4 / 7e-3 / 2.5e-2. Tolerances with 2.5-4x headroom: F32 1e-5,
 * F16 3e-3, BF16 2e-2, Q8_0/Q4_0 6e-2. This looser check is about the size of the engine's rounding (an engine that,
 * say, rounded F32 inputs to F16 fails it).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@ExtendWith(NativeVariantUnderTest.class)
class ReferenceForwardTest {
    static final GgmlType[] TYPES = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0};
    static final Map<GgmlType, Double> LIKE_LLAMA_CPP_TOLERANCE = Map.of(
            GgmlType.F32, 1e-5, GgmlType.F16, 2e-3, GgmlType.BF16, 1e-2, GgmlType.Q8_0, 1e-2, GgmlType.Q4_0, 1e-2);
    static final Map<GgmlType, Double> EXACT_MATH_TOLERANCE = Map.of(
            GgmlType.F32, 1e-5, GgmlType.F16, 3e-3, GgmlType.BF16, 2e-2, GgmlType.Q8_0, 6e-2, GgmlType.Q4_0, 6e-2);
    static final int TOKENS = 20;
    /**
     * GEMM (float products) vs the Q8_0/Q4_0 dot kernels (exact integer block sums): 1e-7 relative apart, unless that
     * difference tips one activation across a Q8_0 rounding boundary, which moves logits by the flip size above (seen
     * up to 4e-3). Same bound as {@link #LIKE_LLAMA_CPP_TOLERANCE} for them.
     */
    static final double GEMM_VS_DOT_TOLERANCE = 1e-2;

    @TempDir
    static Path dir;

    static Parallel parallel;
    private static final Map<TinyLlamaFiles.Spec, Path> files = new HashMap<>();

    @BeforeAll
    static void start() {
        parallel = new Parallel(2);
    }

    @AfterAll
    static void stop() {
        parallel.close();
    }

    static TinyLlamaFiles.Spec spec(GgmlType type, boolean tied) {
        return TinyLlamaFiles.Spec.defaults()
                .withWeightType(type)
                .withTiedOutput(tied)
                .withRopeFreqBase(1000f)
                .withRmsEps(5e-4f);
    }

    static synchronized Path file(TinyLlamaFiles.Spec spec) {
        return files.computeIfAbsent(spec, s -> TinyLlamaFiles.write(dir.resolve("tiny-" + files.size() + ".gguf"), s));
    }

    /** BOS, then random ids anywhere in the vocabulary. */
    static int[] tokens(int n, int vocab, long seed) {
        Random r = new Random(seed);
        int[] t = new int[n];
        t[0] = 1;
        for (int i = 1; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    /** All logits of {@code tokens}, run through a fresh cache in batches of the given sizes. */
    static float[][] engine(Transformer m, int[] tokens, KvPrecision precision, Parallel par, int... batches) {
        assertThat(Arrays.stream(batches).sum()).isEqualTo(tokens.length);
        KvCache cache = m.newCache(tokens.length, precision);
        List<float[]> out = new ArrayList<>();
        int from = 0;
        for (int n : batches) {
            float[][] logits = m.forward(cache, tokens, from, n, true, par);
            assertThat(logits).hasNumberOfRows(n);
            out.addAll(Arrays.asList(logits));
            from += n;
        }
        assertThat(cache.size()).isEqualTo(tokens.length);
        return out.toArray(float[][]::new);
    }

    static int[] ones(int n) {
        int[] b = new int[n];
        Arrays.fill(b, 1);
        return b;
    }

    static Stream<Arguments> typesAndTying() {
        List<Arguments> a = new ArrayList<>();
        for (GgmlType t : TYPES) for (boolean tied : new boolean[] {false, true}) a.add(Arguments.of(t, tied));
        return a.stream();
    }

    static Stream<GgmlType> types() {
        return Arrays.stream(TYPES);
    }

    /** One model, its reference and the engine's logits for the standard token sequence. */
    record Run(TinyLlamaFiles.Spec spec, int[] tokens, float[][] engine, ReferenceLlama reference) {}

    static Run run(GgmlType type, boolean tied) {
        TinyLlamaFiles.Spec spec = spec(type, tied);
        int[] toks = tokens(TOKENS, spec.vocab(), 7);
        try (GgufFile f = GgufFile.open(file(spec))) {
            Transformer m = Transformer.load(f);
            assertThat(m.weights().output() == m.weights().tokenEmbedding()).isEqualTo(tied);
            return new Run(spec, toks, engine(m, toks, KvPrecision.F32, parallel, TOKENS), new ReferenceLlama(f));
        }
    }

    /**
     * Before any other test warms up the kernels: the first forward pass on a cold JVM must give the same bits as later
     * ones. (It did not while the kernels summed lanes with reduceLanes(ADD), whose order differs between the
     * interpreter and C2. Run this class alone to exercise that; later in a JVM it is a plain repeatability check.)
     */
    @Test
    @Order(0)
    void repeatedForwardPassesAreBitIdenticalFromColdStart() {
        for (GgmlType type : TYPES) {
            TinyLlamaFiles.Spec spec = spec(type, false);
            int[] toks = tokens(TOKENS, spec.vocab(), 7);
            try (GgufFile f = GgufFile.open(file(spec));
                    Parallel one = new Parallel(1)) {
                Transformer m = Transformer.load(f);
                float[][] first = engine(m, toks, KvPrecision.F32, one, TOKENS);
                float[] firstDecode = engine(m, toks, KvPrecision.F32, one, ones(TOKENS))[TOKENS - 1];
                for (int i = 0; i < 100; i++) {
                    assertThat(engine(m, toks, KvPrecision.F32, one, TOKENS))
                            .as("%s prefill, run %d", type, i)
                            .isDeepEqualTo(first);
                }
                for (int i = 0; i < 20; i++) {
                    assertThat(engine(m, toks, KvPrecision.F32, one, ones(TOKENS))[TOKENS - 1])
                            .as("%s decode, run %d", type, i)
                            .containsExactly(firstDecode);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} tied={1}")
    @MethodSource("typesAndTying")
    void matchesReferenceWithLlamaCppActivationRounding(GgmlType type, boolean tied) {
        Run r = run(type, tied);
        float[][] ref = r.reference().forward(r.tokens(), Rounding.LIKE_LLAMA_CPP);
        assertThat(ReferenceLlama.maxAbs(ref)).as("logit scale").isBetween(0.5, 10.0);
        assertThat(ReferenceLlama.maxAbsDiff(r.engine(), ref))
                .as("%s tied=%s max |engine - reference|", type, tied)
                .isLessThanOrEqualTo(LIKE_LLAMA_CPP_TOLERANCE.get(type));
    }

    @ParameterizedTest(name = "{0} tied={1}")
    @MethodSource("typesAndTying")
    void matchesExactMathWithinActivationRoundingError(GgmlType type, boolean tied) {
        Run r = run(type, tied);
        float[][] ref = r.reference().forward(r.tokens(), Rounding.NONE);
        assertThat(ReferenceLlama.maxAbsDiff(r.engine(), ref))
                .as("%s tied=%s max |engine - exact math|", type, tied)
                .isLessThanOrEqualTo(EXACT_MATH_TOLERANCE.get(type));
    }

    /** The tolerance above is meaningful: each deliberately wrong reference misses the engine by more than 3x it. */
    @ParameterizedTest
    @MethodSource("types")
    void tolerancesCatchPlausibleBugs(GgmlType type) {
        Run r = run(type, false);
        double tolerance = LIKE_LLAMA_CPP_TOLERANCE.get(type);
        for (Variant v : Variant.values()) {
            if (v == Variant.CORRECT) continue;
            float[][] wrong = r.reference().forward(r.tokens(), Rounding.LIKE_LLAMA_CPP, v);
            assertThat(ReferenceLlama.maxAbsDiff(r.engine(), wrong))
                    .as("%s: engine vs reference with bug %s", type, v)
                    .isGreaterThan(3 * tolerance);
        }
    }

    /**
     * Batches below {@link Gemm#MIN_TOKENS} use the per-type dot kernels, whose sums do not depend on the batch: those
     * schedules must give the decode path's bits exactly. Larger batches take the GEMM path: identical bits for the
     * float types (same products, same order), and for Q8_0/Q4_0 (float products of dequantised values instead of exact
     * integer block sums) within {@link #GEMM_VS_DOT_TOLERANCE}.
     */
    @ParameterizedTest
    @MethodSource("types")
    void prefillDecodeAndMixedBatchesAgree(GgmlType type) {
        assertThat(TOKENS).isGreaterThanOrEqualTo(Gemm.MIN_TOKENS);
        TinyLlamaFiles.Spec spec = spec(type, false);
        int[] toks = tokens(TOKENS, spec.vocab(), 11);
        try (GgufFile f = GgufFile.open(file(spec))) {
            Transformer m = Transformer.load(f);
            for (KvPrecision precision : KvPrecision.values()) {
                float[][] decode = engine(m, toks, precision, parallel, ones(TOKENS));
                // Batches of 4 and more take the Q8_0 kernel's 4-token path, with 1-3 left over.
                int[][] small = {{3, 1, 5, 2, 4, 1, 4}, {7, 13}, {8, 8, 4}, {15, 5}};
                for (int[] s : small) {
                    assertThat(engine(m, toks, precision, parallel, s))
                            .as("%s %s batches %s", type, precision, Arrays.toString(s))
                            .isDeepEqualTo(decode);
                }
                int[][] large = {{TOKENS}, {1, 19}, {4, 16}};
                for (int[] s : large) {
                    float[][] gemm = engine(m, toks, precision, parallel, s);
                    if (type == GgmlType.Q8_0 || type == GgmlType.Q4_0) {
                        System.out.printf(
                                "%s %s batches %s: max |GEMM - dot kernels| = %.2g%n",
                                type, precision, Arrays.toString(s), ReferenceLlama.maxAbsDiff(gemm, decode));
                        assertThat(ReferenceLlama.maxAbsDiff(gemm, decode))
                                .as("%s %s batches %s", type, precision, Arrays.toString(s))
                                .isLessThanOrEqualTo(GEMM_VS_DOT_TOLERANCE);
                    } else {
                        assertThat(gemm)
                                .as("%s %s batches %s", type, precision, Arrays.toString(s))
                                .isDeepEqualTo(decode);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("types")
    void threadCountDoesNotChangeBits(GgmlType type) {
        TinyLlamaFiles.Spec spec = spec(type, true);
        int[] toks = tokens(TOKENS, spec.vocab(), 13);
        try (GgufFile f = GgufFile.open(file(spec));
                Parallel one = new Parallel(1);
                Parallel two = new Parallel(2);
                Parallel three = new Parallel(3)) {
            Transformer m = Transformer.load(f);
            float[][] prefill = engine(m, toks, KvPrecision.F32, one, TOKENS);
            float[][] decode = engine(m, toks, KvPrecision.F32, one, ones(TOKENS));
            assertThat(engine(m, toks, KvPrecision.F32, two, TOKENS))
                    .as("%s prefill, 2 threads", type)
                    .isDeepEqualTo(prefill);
            assertThat(engine(m, toks, KvPrecision.F32, two, ones(TOKENS)))
                    .as("%s decode, 2 threads", type)
                    .isDeepEqualTo(decode);
            assertThat(engine(m, toks, KvPrecision.F32, three, TOKENS))
                    .as("%s prefill, 3 threads", type)
                    .isDeepEqualTo(prefill);
            assertThat(engine(m, toks, KvPrecision.F32, three, ones(TOKENS)))
                    .as("%s decode, 3 threads", type)
                    .isDeepEqualTo(decode);
        }
    }

    /**
     * An F16 cache rounds keys, values, the query and the attention weights to F16 (2^-11 relative): the logits must
     * move (so it is not silently F32), but only by about that much. With F32 weights that is all there is (measured
     * over 6 seeds: 3.6e-4..5.3e-4); with rounded activations the perturbation is larger than the rounding steps, so it
     * comes back as the type's activation-rounding noise (measured: F16 1.2e-3, BF16 7.3e-3, Q8_0 2.2e-2, Q4_0 1.9e-2;
     * compare the exact-math errors above). Tolerance: the exact-math tolerance, at least 2e-3.
     */
    @ParameterizedTest
    @MethodSource("types")
    void f16KvCacheStaysCloseToF32(GgmlType type) {
        TinyLlamaFiles.Spec spec = spec(type, false);
        int[] toks = tokens(TOKENS, spec.vocab(), 17);
        try (GgufFile f = GgufFile.open(file(spec))) {
            Transformer m = Transformer.load(f);
            float[][] f32 = engine(m, toks, KvPrecision.F32, parallel, TOKENS);
            float[][] f16 = engine(m, toks, KvPrecision.F16, parallel, TOKENS);
            assertThat(ReferenceLlama.maxAbsDiff(f32, f16))
                    .as("%s: max |F16 cache - F32 cache|", type)
                    .isGreaterThan(1e-5)
                    .isLessThanOrEqualTo(Math.max(2e-3, EXACT_MATH_TOLERANCE.get(type)));
        }
    }

    /** Without llama.rope.freq_base and llama.attention.layer_norm_rms_epsilon, llama.cpp's 10000 and 1e-5 apply. */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void missingRopeBaseAndRmsEpsTakeDefaults(boolean tied) {
        TinyLlamaFiles.Spec base =
                TinyLlamaFiles.Spec.defaults().withWeightType(GgmlType.F16).withTiedOutput(tied);
        TinyLlamaFiles.Spec explicit = base.withRopeFreqBase(10000f).withRmsEps(1e-5f);
        TinyLlamaFiles.Spec absent = base.withRopeFreqBase(null).withRmsEps(null);
        TinyLlamaFiles.Spec other = base.withRopeFreqBase(20000f).withRmsEps(1e-5f);
        int[] toks = tokens(TOKENS, base.vocab(), 19);
        try (GgufFile fe = GgufFile.open(file(explicit));
                GgufFile fa = GgufFile.open(file(absent));
                GgufFile fo = GgufFile.open(file(other))) {
            assertThat(fa.get("llama.rope.freq_base")).isNull();
            assertThat(fa.get("llama.attention.layer_norm_rms_epsilon")).isNull();
            Transformer me = Transformer.load(fe), ma = Transformer.load(fa), mo = Transformer.load(fo);
            assertThat(ma.config().ropeFreqBase()).isEqualTo(10000f);
            assertThat(ma.config().rmsNormEps()).isEqualTo(1e-5f);
            float[][] le = engine(me, toks, KvPrecision.F32, parallel, TOKENS);
            assertThat(engine(ma, toks, KvPrecision.F32, parallel, TOKENS)).isDeepEqualTo(le);
            // ...and the key is read when present: another base gives other logits (from position 1 on).
            assertThat(ReferenceLlama.maxAbsDiff(engine(mo, toks, KvPrecision.F32, parallel, TOKENS), le))
                    .isGreaterThan(1e-3);
        }
        // The same file-with-defaults through the reference (which applies the defaults itself).
        try (GgufFile fa = GgufFile.open(file(absent))) {
            float[][] ref = new ReferenceLlama(fa).forward(toks, Rounding.LIKE_LLAMA_CPP);
            float[][] eng = engine(Transformer.load(fa), toks, KvPrecision.F32, parallel, TOKENS);
            assertThat(ReferenceLlama.maxAbsDiff(eng, ref))
                    .isLessThanOrEqualTo(LIKE_LLAMA_CPP_TOLERANCE.get(GgmlType.F16));
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "token_embd.weight",
                "output_norm.weight",
                "output.weight",
                "blk.0.attn_norm.weight",
                "blk.0.attn_q.weight",
                "blk.1.attn_k.weight",
                "blk.0.attn_v.weight",
                "blk.1.attn_output.weight",
                "blk.1.ffn_norm.weight",
                "blk.0.ffn_gate.weight",
                "blk.1.ffn_up.weight",
                "blk.1.ffn_down.weight"
            })
    void missingTensorIsNamed(String name) {
        // output.weight is optional (tied embeddings): without it the model loads and reuses token_embd.
        TinyLlamaFiles.Spec spec =
                TinyLlamaFiles.Spec.defaults().withWeightType(GgmlType.Q8_0).withoutTensor(name);
        try (GgufFile f = GgufFile.open(file(spec))) {
            assertThat(f.tensor(name)).isNull();
            if (name.equals("output.weight")) {
                Transformer m = Transformer.load(f);
                assertThat(m.weights().output()).isSameAs(m.weights().tokenEmbedding());
                return;
            }
            assertThatThrownBy(() -> Transformer.load(f))
                    .isInstanceOf(GgufFormatException.class)
                    .hasMessageContaining(name)
                    .hasMessageContaining("missing")
                    .hasMessageContaining(f.path().toString());
        }
    }

    static Stream<Arguments> wrongShapes() {
        // GGUF order: [row length, rows]. d=64, heads*hs=64, kvHeads*hs=32, ff=96, vocab=300.
        return Stream.of(
                Arguments.of("blk.0.attn_q.weight", new long[] {64, 32}, "[64, 32]", "[64, 64]"),
                Arguments.of("blk.1.attn_k.weight", new long[] {64, 64}, "[64, 64]", "[64, 32]"),
                Arguments.of("blk.0.ffn_down.weight", new long[] {64, 96}, "[64, 96]", "[96, 64]"),
                Arguments.of("blk.1.ffn_norm.weight", new long[] {32}, "[32]", "[64]"),
                Arguments.of("blk.0.attn_norm.weight", new long[] {64, 1}, "[64, 1]", "[64]"),
                Arguments.of("output.weight", new long[] {64, 299}, "[64, 299]", "[64, 300]"),
                Arguments.of("output_norm.weight", new long[] {96}, "[96]", "[64]"));
    }

    @ParameterizedTest(name = "{0} {2}")
    @MethodSource("wrongShapes")
    void wrongTensorShapeIsReportedWithTheShape(String name, long[] shape, String actual, String expected) {
        TinyLlamaFiles.Spec spec =
                TinyLlamaFiles.Spec.defaults().withWeightType(GgmlType.F32).withTensorShape(name, shape);
        try (GgufFile f = GgufFile.open(file(spec))) {
            assertThat(f.tensor(name).shape()).containsExactly(shape);
            assertThatThrownBy(() -> Transformer.load(f))
                    .isInstanceOf(GgufFormatException.class)
                    .hasMessageContaining(name)
                    .hasMessageContaining(actual)
                    .hasMessageContaining("expected " + expected);
        }
    }

    /** The tiny files also satisfy the rest of the loader: vocabulary size, BOS/EOS and token types. */
    @Test
    void tinyFileLoadsWithItsTokenizer() {
        Path p = file(spec(GgmlType.Q4_0, true));
        try (var loaded = LoadedModel.open(p)) {
            var vocab = loaded.tokenizer().vocabulary();
            assertThat(vocab.size()).isEqualTo(300);
            assertThat(vocab.bos()).isEqualTo(1);
            assertThat(vocab.eos()).isEqualTo(2);
            assertThat(vocab.text(3)).isEqualTo("<0x00>");
            assertThat(vocab.text(TinyLlamaFiles.FIRST_NORMAL_TOKEN)).isEqualTo(TinyLlamaFiles.SPACE);
            assertThat(loaded.model().config().kvHeadCount()).isEqualTo(2);
            assertThat(loaded.model().config().ropeFreqBase()).isEqualTo(1000f);
            assertThat(loaded.model().config().rmsNormEps()).isEqualTo(5e-4f);
            int[] ids = loaded.tokenizer().encode("hi !", true, false);
            assertThat(ids[0]).isEqualTo(1);
            assertThat(ids.length).isGreaterThan(1);
        }
    }
}
