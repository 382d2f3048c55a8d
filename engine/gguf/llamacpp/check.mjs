// Loads the files main.go wrote with the llama.cpp build that node-llama-cpp
// bundles and compares tokenization, special tokens and logits with our
// engine's. Exits 1 on any difference that docs/GGUF.md does not predict.
import {getLlama, JinjaTemplateChatWrapper} from "node-llama-cpp";
import fs from "node:fs";
import path from "node:path";

const dir = process.argv[2];
const llama = await getLlama({gpu: false, build: "never", logLevel: "warn"});
let failed = false;
const fail = (msg) => { console.log("FAIL", msg); failed = true; };

for (const kind of ["bpe", "char"]) {
  const exp = JSON.parse(fs.readFileSync(path.join(dir, `${kind}.json`)));
  const model = await llama.loadModel({modelPath: path.join(dir, `${kind}.gguf`)});
  console.log(`== ${kind}: loaded, ${model.tokens.bosString} = ${model.tokens.bos}, ${model.tokens.eosString} = ${model.tokens.eos}`);

  for (const t of exp.texts) {
    const got = Array.from(model.tokenize(t.text, false));
    if (JSON.stringify(got) !== JSON.stringify(t.ids)) {
      // The BPE pre-tokenizers differ on whitespace runs (docs/GGUF.md).
      const predicted = kind === "bpe" && /\s\s/.test(t.text);
      (predicted ? console.log : fail)(`${predicted ? "expected difference" : "tokens differ"} for ${JSON.stringify(t.text)}: ours ${JSON.stringify(t.ids)}, llama.cpp ${JSON.stringify(got)}`);
    }
    const back = model.detokenize(got);
    if (back !== t.text) fail(`detokenize ${JSON.stringify(t.text)} = ${JSON.stringify(back)}`);
  }
  if (exp.dropped) {
    const got = Array.from(model.tokenize(exp.dropped.text, false));
    if (JSON.stringify(got) !== JSON.stringify(exp.dropped.ids)) fail(`out-of-alphabet text ${JSON.stringify(exp.dropped.text)}: llama.cpp ${got}, want ${exp.dropped.ids}`);
    else console.log(`out-of-alphabet character dropped, as documented: ${JSON.stringify(exp.dropped.text)}`);
  }
  const chat = Array.from(model.tokenize(exp.chat, true));
  if (JSON.stringify(chat) !== JSON.stringify(exp.chat_ids)) fail(`chat prompt: ours ${exp.chat_ids}, llama.cpp ${chat}`);
  // The file's Jinja chat template, rendered by node-llama-cpp (Hugging
  // Face's Jinja in JS) and tokenized by llama.cpp, must give EncodeChat's
  // ids for the same conversation.
  const wrapper = new JinjaTemplateChatWrapper({template: model.fileInfo.metadata.tokenizer.chat_template, tokenizer: model.tokenizer});
  const rendered = wrapper.generateContextState({chatHistory: [
    {type: "system", text: "be brief"}, {type: "user", text: "hello there"}, {type: "model", response: []},
  ]}).contextText.tokenize(model.tokenizer);
  if (JSON.stringify(rendered) !== JSON.stringify(exp.chat_ids)) fail(`chat template: ours ${exp.chat_ids}, rendered ${rendered}`);
  else console.log("chat template renders to our chat encoding");
  if (model.tokens.eos !== exp.eos || !model.isEogToken(exp.end) || !model.isEogToken(exp.eos)) {
    fail(`end of generation: eos ${model.tokens.eos}, <|end|> eog ${model.isEogToken(exp.end)}, <|eos|> eog ${model.isEogToken(exp.eos)}`);
  }

  // F32 KV cache: llama.cpp's default F16 cache alone moves these logits by
  // ~1e-1. The context must leave room beyond the prompt, or node-llama-cpp
  // shifts it and the positions no longer match.
  const ctx = await model.createContext({contextSize: 128, batchSize: 128, sequences: 1,
    experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32", flashAttention: false});
  const res = await ctx.getSequence().controlledEvaluate(exp.chat_ids.map(t => [t, {generateNext: {logits: true, temperature: 1}}]));
  let worst = 0, scale = 0;
  exp.logits.forEach((ours, p) => ours.forEach((v, tok) => {
    worst = Math.max(worst, Math.abs(res[p].next.logits.get(tok) - v));
    scale = Math.max(scale, Math.abs(v));
  }));
  console.log(`logits at ${exp.logits.length} positions: max |ours - llama.cpp| ${worst.toExponential(2)}, max |logit| ${scale.toFixed(1)}`);
  if (worst > 1e-4 * scale) fail(`logits differ by ${worst}`);
  await ctx.dispose();
  await model.dispose();
}
await llama.dispose();
if (failed) process.exit(1);
console.log("OK");
