// The Hugging Face JS client (@huggingface/hub) as a stock client of a MEI-CDN node, for
// tests/integration/stock_clients_test.cc. No access token: the data plane is public.
//
//   node download.mjs HUB_URL REPO REVISION PATH OUT
//
// Lists the repository through the Hub tree route (listFiles), printing "PATH SIZE" per file, then
// downloads PATH at REVISION (downloadFile) into OUT. Exits non-zero with the client's error on
// any failure, 3 when the node says the file does not exist.
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

import { downloadFile, listFiles } from "@huggingface/hub";

const [hubUrl, repo, revision, path, out] = process.argv.slice(2);
if (out === undefined) {
  console.error("usage: node download.mjs HUB_URL REPO REVISION PATH OUT");
  process.exit(2);
}

try {
  for await (const entry of listFiles({ repo, revision, hubUrl, recursive: true })) {
    if (entry.type === "file") console.log(`${entry.path} ${entry.size}`);
  }
  // xet: false, so the client asks for the file itself rather than Xet reconstruction info.
  const blob = await downloadFile({ repo, revision, path, hubUrl, xet: false });
  if (blob === null) {
    console.error(`download.mjs: ${repo}@${revision}/${path}: not found`);
    process.exit(3);
  }
  await pipeline(Readable.fromWeb(blob.stream()), createWriteStream(out));
} catch (error) {
  console.error(`download.mjs: ${error?.stack ?? error}`);
  process.exit(1);
}
