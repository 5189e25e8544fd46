package io.razorstream.app.cli;

import io.razorstream.engine.LoadedModel;
import io.razorstream.engine.chat.ChatFormat;
import io.razorstream.engine.chat.ChatTemplate;
import io.razorstream.engine.chat.Conversation;
import io.razorstream.engine.chat.Message;
import io.razorstream.engine.chat.TurnRefused;
import io.razorstream.engine.kernel.Parallel;
import io.razorstream.engine.sampling.SamplerConfig;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;

/** {@code chat --model FILE}: a terminal chat with a local model, its history kept in the KV cache. */
final class LocalChat {
    private LocalChat() {}

    static int run(
            Path modelPath,
            String templateName,
            String system,
            SamplerConfig sampling,
            int maxTokens,
            int threads,
            BufferedReader in,
            PrintWriter out)
            throws IOException {
        try (LoadedModel model = LoadedModel.open(modelPath);
                Parallel parallel = new Parallel(threads)) {
            ChatFormat template = templateName != null
                    ? Conversation.templateNamed(templateName, model)
                    : Conversation.templateOf(model, reason -> System.err.println("note: " + reason));
            if (templateName == null && template == ChatTemplate.PLAIN) {
                System.err.println("note: no known chat template in " + modelPath.getFileName()
                        + "; turns are appended as plain text "
                        + "(choose one with --template chatml|qwen3|gemma|llama3|llama2|mistral|phi3|zephyr)");
            }
            Conversation chat = Conversation.start(model, template, parallel);
            if (system != null) chat.add(Message.system(system));
            System.err.println(modelPath.getFileName() + ", template " + template.label()
                    + ". Type a message; /reset starts over, /quit or Ctrl-D ends.");
            for (String line; ; ) {
                System.err.print("> ");
                if ((line = in.readLine()) == null || line.equals("/quit")) return 0;
                if (line.equals("/reset")) {
                    chat.reset();
                    if (system != null) chat.add(Message.system(system));
                    System.err.println("(conversation reset)");
                    continue;
                }
                if (line.isBlank()) continue;
                try {
                    chat.reply(line, sampling, maxTokens, (token, piece) -> {
                        out.print(piece);
                        out.flush();
                    });
                } catch (TurnRefused e) {
                    System.err.println("error: " + e.getMessage());
                }
                out.println();
                out.flush();
            }
        }
    }
}
