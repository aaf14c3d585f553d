/* An OutLayer guest in C: reads its input from stdin and its settings from the environment,
 * and prints one JSON object. Build: clang-16 --target=wasm32-wasi -O2 -o echo_json.wasm echo_json.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_json_string(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

int main(void) {
    static char input[65536];
    size_t n = fread(input, 1, sizeof input, stdin);
    const char *greeting = getenv("GREETING");
    if (greeting == NULL) greeting = "hello";
    fprintf(stderr, "echo_json (C): read %zu bytes of input\n", n);

    printf("{\"language\":\"c\",\"greeting\":");
    print_json_string(greeting, strlen(greeting));
    printf(",\"input\":");
    print_json_string(input, n);
    printf(",\"input_bytes\":%zu}\n", n);
    return 0;
}
