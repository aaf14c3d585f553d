// An OutLayer guest in Go (GOOS=wasip1 GOARCH=wasm): reads stdin, answers one JSON object.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading input:", err)
		os.Exit(1)
	}
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "hello"
	}
	fmt.Fprintf(os.Stderr, "echo-json (Go): read %d bytes of input\n", len(input))
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"language":    "go",
		"greeting":    greeting,
		"input":       string(input),
		"input_bytes": len(input),
	})
}
