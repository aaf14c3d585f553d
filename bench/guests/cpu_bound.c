/* A CPU-bound guest for the benchmark: counts primes below N by trial division and mixes an
 * FNV-1a hash over them. Built both to wasm32-wasi and natively from this one file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    uint32_t limit = 200000;
    char buf[32] = {0};
    if (argc > 1) limit = (uint32_t)strtoul(argv[1], NULL, 10);
    else if (fgets(buf, sizeof buf, stdin) != NULL && buf[0] != '\0') limit = (uint32_t)strtoul(buf, NULL, 10);
    uint32_t count = 0;
    uint64_t hash = 1469598103934665603ULL;
    for (uint32_t n = 2; n < limit; n++) {
        int prime = 1;
        for (uint32_t d = 2; d * d <= n; d++) {
            if (n % d == 0) { prime = 0; break; }
        }
        if (prime) {
            count++;
            hash = (hash ^ n) * 1099511628211ULL;
        }
    }
    printf("{\"limit\":%u,\"primes\":%u,\"hash\":\"%016llx\"}\n", limit, count, (unsigned long long)hash);
    return 0;
}
