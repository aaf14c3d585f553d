// A counter that persists in storage across calls (OutLayer guest in Go): counts every call
// and remembers the last input. The first call finds no last input: storage answers an error
// matching outlayer.ErrNotFound, shown as previous_error.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"example.com/outlayer/sdk/outlayer"
)

func main() {
	input := outlayer.Input()
	count, err := outlayer.Increment("count", 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "counting calls:", err)
		os.Exit(1)
	}
	answer := map[string]any{"language": "go", "count": count, "previous_input": nil,
		"previous_error": nil}
	previous, err := outlayer.Get("last_input")
	switch {
	case err == nil:
		answer["previous_input"] = string(previous)
	case errors.Is(err, outlayer.ErrNotFound):
		answer["previous_error"] = err.Error()
	default:
		fmt.Fprintln(os.Stderr, "reading the last input:", err)
		os.Exit(1)
	}
	if err := outlayer.Set("last_input", input); err != nil {
		fmt.Fprintln(os.Stderr, "remembering the input:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(answer)
	outlayer.Output(out)
}
