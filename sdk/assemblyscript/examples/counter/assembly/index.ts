// A counter that persists in storage across calls (OutLayer guest in AssemblyScript): counts
// every call and remembers the last input. The first call finds no last input: storage answers
// an error with status NOT_FOUND, shown as previous_error.
import { inputString, outputString, quote, storage } from "../../../assembly/index";

const input = inputString();
const count = storage.increment("count", 1).unwrap();
const previous = storage.getString("last_input");
let previousInput = "null";
let previousError = "null";
if (previous.ok) {
  previousInput = quote(previous.value);
} else {
  const error = previous.error!;
  if (!error.isNotFound) abort("reading the last input: " + error.toString());
  previousError = quote(error.toString());
}
storage.setString("last_input", input).unwrap();
outputString('{"language":"assemblyscript","count":' + count.toString() +
  ',"previous_input":' + previousInput + ',"previous_error":' + previousError + "}");
