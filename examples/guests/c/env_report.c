/* An OutLayer guest that reports the environment it was given without revealing it: the name
 * of every variable, and for each a fingerprint of its value (64-bit FNV-1a, hex). It is how to
 * check that secrets arrive (compare fingerprints) without ever printing one.
 * Build: clang-16 --target=wasm32-wasi -O2 -o env_report.wasm env_report.c */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern char **environ;

static uint64_t fnv1a(const char *s) {
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        hash ^= (unsigned char)*s;
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

int main(void) {
    printf("{\"variables\":{");
    int first = 1;
    for (char **entry = environ; *entry; entry++) {
        const char *eq = strchr(*entry, '=');
        if (eq == NULL) continue;
        printf("%s\"%.*s\":\"%016llx\"", first ? "" : ",", (int)(eq - *entry), *entry,
               (unsigned long long)fnv1a(eq + 1));
        first = 0;
    }
    printf("}}\n");
    return 0;
}
