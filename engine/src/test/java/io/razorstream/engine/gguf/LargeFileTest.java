package io.razorstream.engine.gguf;

import io.razorstream.engine.kernel.GgmlType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** Files over 2 GB: written sparse (the holes cost no disk), mapped with FFM, read past the 2^31 mark. */
class LargeFileTest {

    @Test
    void tensorDataBeyondTwoGigabytesIsReadable(@TempDir Path dir) throws Exception {
        long cols = 1L << 16, rows = (1L << 31) / 4 / cols + 16; // just over 2 GiB of F32
        long bytes = cols * rows * 4;
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "test");
        w.addTensor("small", GgmlType.F32, new long[] {4}, new byte[16]);
        w.addTensor("huge", GgmlType.F32, new long[] {cols, rows}, out -> {
            SeekableByteChannel ch = (SeekableByteChannel) out;
            long start = ch.position();
            ch.position(start + bytes - 4); // leave a hole, then write the last float
            ByteBuffer last = ByteBuffer.allocate(4)
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .putFloat(1234.5f)
                    .flip();
            GgufWriter.writeFully(ch, last);
        });
        w.addTensor(
                "after",
                GgmlType.F32,
                new long[] {4},
                ByteBuffer.allocate(16)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .putFloat(1f)
                        .putFloat(2f)
                        .putFloat(3f)
                        .putFloat(4f)
                        .array());
        Path file = dir.resolve("big.gguf");
        w.write(file);

        try (GgufFile f = GgufFile.open(file)) {
            assertThat(f.fileSize()).isGreaterThan(1L << 31);
            GgufTensorInfo huge = f.tensor("huge");
            assertThat(huge.byteSize()).isEqualTo(bytes);
            var data = f.tensorData(huge);
            assertThat(data.get(ValueLayout.JAVA_FLOAT_UNALIGNED, bytes - 4)).isEqualTo(1234.5f);
            assertThat(data.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 0)).isZero();
            var after = f.tensorData(f.tensor("after"));
            assertThat(f.dataOffset() + f.tensor("after").offset()).isGreaterThan(1L << 31);
            assertThat(after.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 12)).isEqualTo(4f);
        }
    }
}
