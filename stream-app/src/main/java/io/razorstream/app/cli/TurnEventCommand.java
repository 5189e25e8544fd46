package io.razorstream.app.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.razorstream.proto.v1.GenerationParams;
import io.razorstream.proto.v1.ReplyEvent;
import io.razorstream.proto.v1.TurnEvent;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.Callable;

/** Events for Kafka-only clients and shell tools such as kcat: write a TurnEvent, or print a ReplyEvent as JSON. */
final class TurnEventCommand {
    private TurnEventCommand() {}

    @Command(
            name = "turn-event",
            mixinStandardHelpOptions = true,
            description = {
                "Write a razorstream.v1.TurnEvent (protobuf) to a file, for Kafka clients such as kcat.",
                "Produce it keyed by the session id, e.g.:",
                "  bin/razorstream turn-event --session demo --text 'Hello #' --reply \\",
                "      --out turn.bin",
                "  kcat -P -b localhost:9092 -t razorstream.turns -k demo turn.bin",
                "The turn id goes to stderr as 'turn-id: ID'; producing the "
                        + "same id again is a duplicate and changes nothing.",
                "--rollback N writes a rollback of the last N turns; --regenerate a regenerate of the last reply."
            })
    static final class Write implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--session", required = true, description = "session id (also the record key to use)")
        String session;

        @Option(names = "--turn-id", description = "turn id (default: a random one)")
        String turnId;

        @Option(
                names = "--text",
                defaultValue = "",
                description = "the turn's text (with --regenerate: replaces the last message)")
        String text;

        @Option(
                names = "--rollback",
                paramLabel = "N",
                description = "a rollback of the session's last N turns instead of a turn")
        Integer rollback;

        @Option(
                names = "--regenerate",
                description = "take back the last turn and reply again (to its message, or to --text)")
        boolean regenerate;

        @Option(names = "--reply", description = "ask for a reply")
        boolean reply;

        @Option(names = "--max-tokens", description = "reply length")
        Integer maxTokens;

        @Option(
                names = "--raw",
                description = "the text goes in as it is, without the chat template (ROLE_RAW: a prompt you rendered)")
        boolean raw;

        @picocli.CommandLine.Mixin
        ReplyFormatOptions format = new ReplyFormatOptions();

        @Option(names = "--out", required = true, description = "file to write")
        Path out;

        @Override
        public Integer call() throws Exception {
            GenerationParams.Builder params = GenerationParams.newBuilder();
            if (maxTokens != null) params.setMaxTokens(maxTokens);
            format.apply(params);
            if (turnId != null && turnId.isBlank()) throw new IllegalArgumentException("--turn-id is empty");
            String id = turnId != null ? turnId : UUID.randomUUID().toString();
            TurnEvent.Builder b = TurnEvent.newBuilder()
                    .setSessionId(session)
                    .setTurnId(id)
                    .setCreatedAtMs(System.currentTimeMillis());
            if (rollback != null) {
                if (rollback < 1) throw new IllegalArgumentException("--rollback must be >= 1, got " + rollback);
                if (!text.isEmpty() || reply || regenerate)
                    throw new IllegalArgumentException("--rollback takes no --text, --reply or --regenerate");
                b.setRollbackTurns(rollback);
            } else {
                if (text.isEmpty() && !regenerate)
                    throw new IllegalArgumentException("--text is required (or --rollback N, or --regenerate)");
                if (raw) b.setRole(io.razorstream.proto.v1.Role.ROLE_RAW);
                b.setText(text)
                        .setReply(reply || regenerate)
                        .setRegenerate(regenerate)
                        .setParams(params);
            }
            TurnEvent e = b.build();
            Files.write(out, e.toByteArray());
            spec.commandLine().getErr().println("turn-id: " + id);
            spec.commandLine().getErr().flush();
            return 0;
        }
    }

    @Command(
            name = "reply-event",
            mixinStandardHelpOptions = true,
            description = {
                "Print razorstream.v1.ReplyEvents (protobuf, e.g. consumed with kcat) as JSON lines.",
                "With --framed the input is a stream of records each "
                        + "preceded by its 4-byte big-endian length, as kcat's %%R " + "writes them:",
                "  kcat -C -b localhost:9092 -t razorstream.replies -o beginning -e -q \\",
                "      -X isolation.level=read_committed -f '%%R%%s' \\",
                "    | bin/razorstream reply-event --framed -"
            })
    static final class Read implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(
                names = "--framed",
                description = "length-prefixed records (kcat -f '%%R%%s'); without it FILE is one record")
        boolean framed;

        @Parameters(paramLabel = "FILE", description = "the input, - for standard input")
        String in;

        @Override
        public Integer call() throws Exception {
            byte[] bytes = in.equals("-") ? System.in.readAllBytes() : Files.readAllBytes(Path.of(in));
            JsonFormat.Printer printer = JsonFormat.printer().omittingInsignificantWhitespace();
            ByteBuffer b = ByteBuffer.wrap(bytes);
            int n = 0;
            if (framed && bytes.length == 0) return 0; // no records (kcat found none)
            do {
                byte[] record = bytes;
                if (framed) {
                    if (b.remaining() < 4)
                        throw new IllegalArgumentException(in + ": truncated length prefix after " + n + " records");
                    int length = b.getInt();
                    if (length < 0 || length > b.remaining())
                        throw new IllegalArgumentException(
                                in + ": record " + n + " claims " + length + " bytes, " + b.remaining() + " left");
                    record = new byte[length];
                    b.get(record);
                }
                try {
                    spec.commandLine().getOut().println(printer.print(ReplyEvent.parseFrom(record)));
                } catch (InvalidProtocolBufferException ex) {
                    throw new IllegalArgumentException(
                            in + ": record " + n + " is not a razorstream.v1.ReplyEvent: " + ex.getMessage());
                }
                n++;
            } while (framed && b.hasRemaining());
            spec.commandLine().getOut().flush();
            return 0;
        }
    }
}
