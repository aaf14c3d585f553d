// An OutLayer guest in AssemblyScript (WASI through @assemblyscript/wasi-shim): reads its input
// on stdin and answers one JSON object on stdout; logs go to stderr.

function jsonString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += "\\\\";
    else if (c < 0x20) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += String.fromCharCode(c);
  }
  return out + '"';
}

const parts = new Array<Uint8Array>();
let total = 0;
while (true) {
  const buffer = new ArrayBuffer(4096);
  const n = process.stdin.read(buffer);
  if (n <= 0) break;
  parts.push(Uint8Array.wrap(buffer, 0, n));
  total += n;
}
const all = new Uint8Array(total);
let offset = 0;
for (let i = 0; i < parts.length; i++) {
  all.set(parts[i], offset);
  offset += parts[i].length;
}
const input = String.UTF8.decode(all.buffer);
const greeting = process.env.has("GREETING") ? process.env.get("GREETING") : "hello";

process.stderr.write("echo-json (AssemblyScript): read " + total.toString() + " bytes of input\n");
process.stdout.write(
  '{"language":"assemblyscript","greeting":' + jsonString(greeting) +
  ',"input":' + jsonString(input) + ',"input_bytes":' + total.toString() + "}"
);
