/* OutLayer's guest SDK for C (header only): the host functions of the `outlayer` import module
 * (docs/guest-abi.md), their statuses, and small helpers for input, output, the environment
 * and the result buffer. Build for WASI preview 1, e.g.
 *
 *     clang-16 --target=wasm32-wasi -O2 -o guest.wasm guest.c
 *
 * A module imports only the functions it calls, and importing one is how it asks for that
 * capability. Every function but outlayer_result_read and outlayer_refund_usd returns an
 * int64_t: >= 0 on success (usually the answer's length, waiting in the result buffer until
 * the next host call), < 0 a status below (the result buffer then holds a message saying why).
 */
#ifndef OUTLAYER_H
#define OUTLAYER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- statuses and flags ------------------------------------------------------------------ */
#define OUTLAYER_NOT_FOUND (-1)   /* storage_get: no such key; chain: no such account */
#define OUTLAYER_NOT_ENABLED (-2) /* the capability is off for this run */
#define OUTLAYER_LIMIT (-3)       /* a per-run cap (calls, bytes, time) is reached */
#define OUTLAYER_QUOTA (-4)       /* the storage quota is full, or a value is too large */
#define OUTLAYER_INVALID (-5)     /* a malformed argument */
#define OUTLAYER_UNAVAILABLE (-6) /* the service did not answer in time; try later */
#define OUTLAYER_REFUSED (-7)     /* not allowed: off the allowlist, a private address, TLS */
#define OUTLAYER_CONFLICT (-8)    /* storage: another run wrote the key meanwhile */
#define OUTLAYER_FAILED (-9)      /* the service answered with an error (a view panicked) */

#define OUTLAYER_PER_CALLER 1u    /* flags: the caller's own space, not the shared one */
#define OUTLAYER_EXPECT_ABSENT 2u /* storage_swap: only if the key is absent */

/* --- the host functions ------------------------------------------------------------------ */
#define OUTLAYER_IMPORT(name) __attribute__((import_module("outlayer"), import_name(name)))

OUTLAYER_IMPORT("storage_get")
int64_t outlayer_storage_get(const void *key, size_t key_len, uint32_t flags);
OUTLAYER_IMPORT("storage_set")
int64_t outlayer_storage_set(const void *key, size_t key_len, const void *value,
                             size_t value_len, uint32_t flags);
OUTLAYER_IMPORT("storage_delete")
int64_t outlayer_storage_delete(const void *key, size_t key_len, uint32_t flags);
OUTLAYER_IMPORT("storage_swap")
int64_t outlayer_storage_swap(const void *key, size_t key_len, const void *expected,
                              size_t expected_len, const void *value, size_t value_len,
                              uint32_t flags);
OUTLAYER_IMPORT("storage_increment")
int64_t outlayer_storage_increment(const void *key, size_t key_len, int64_t delta,
                                   uint32_t flags);
OUTLAYER_IMPORT("storage_list")
int64_t outlayer_storage_list(const void *prefix, size_t prefix_len, const void *cursor,
                              size_t cursor_len, uint32_t flags);
OUTLAYER_IMPORT("random")
int64_t outlayer_random(const void *seed, size_t seed_len);
OUTLAYER_IMPORT("near_view")
int64_t outlayer_near_view(const char *contract, size_t contract_len, const char *method,
                           size_t method_len, const void *args, size_t args_len);
OUTLAYER_IMPORT("near_view_account")
int64_t outlayer_near_view_account(const char *account, size_t account_len);
OUTLAYER_IMPORT("near_block")
int64_t outlayer_near_block(void);
OUTLAYER_IMPORT("fetch")
int64_t outlayer_fetch(const char *request_json, size_t request_len);
OUTLAYER_IMPORT("refund_usd")
void outlayer_refund_usd(int64_t amount);
/* Copies the result buffer (at most cap bytes) to ptr; returns the bytes copied. */
OUTLAYER_IMPORT("result_read")
uint32_t outlayer_result_read(void *ptr, size_t cap);

/* Declares a host the module may fetch from (appended to the outlayer.fetch custom section,
 * one host per line; `*.example.com` covers subdomains; at most 32). At file scope, once per
 * host:
 *     OUTLAYER_FETCH_HOST("api.example.com");
 *     OUTLAYER_FETCH_HOST("*.coingecko.com");
 * (clang writes a custom section only from assembly: a section attribute makes a data segment.)
 */
#define OUTLAYER_FETCH_HOST(host)                                                            \
  __asm__(".section .custom_section.outlayer.fetch,\"\",@\n.ascii \"" host "\\n\"\n.text\n")

/* --- helpers ------------------------------------------------------------------------------ */

/* The ABI's name of a status ("NOT_FOUND", ...), "OK" for zero or more. */
static inline const char *outlayer_status_name(int64_t status) {
  static const char *const names[] = {"NOT_FOUND",   "NOT_ENABLED", "LIMIT",
                                      "QUOTA",       "INVALID",     "UNAVAILABLE",
                                      "REFUSED",     "CONFLICT",    "FAILED"};
  if (status >= 0) return "OK";
  if (status >= -9) return names[-status - 1];
  return "UNKNOWN";
}

/* The result buffer of the last call (its answer of `length` bytes, or after a failure its
 * message: pass length < 0 to read it whole), in a NUL-terminated malloc'd copy; *out_len
 * (if not NULL) is set to its length. NULL if memory runs out. */
static inline char *outlayer_result_take(int64_t length, size_t *out_len) {
  size_t cap = length >= 0 ? (size_t)length : 256;
  for (;;) {
    char *buffer = (char *)malloc(cap + 1);
    if (buffer == NULL) return NULL;
    size_t copied = outlayer_result_read(buffer, cap);
    if (length >= 0 || copied < cap) {
      buffer[copied] = '\0';
      if (out_len != NULL) *out_len = copied;
      return buffer;
    }
    free(buffer); /* a longer message: the buffer stays until the next host call */
    cap *= 4;
  }
}

/* The message of the last failed call, "NAME (status): message", into buf (NUL-terminated). */
static inline const char *outlayer_error_text(int64_t status, char *buf, size_t cap) {
  char *message = outlayer_result_take(-1, NULL);
  snprintf(buf, cap, "%s (%lld): %s", outlayer_status_name(status), (long long)status,
           message ? message : "");
  free(message);
  return buf;
}

/* The run's whole input (stdin), NUL-terminated, malloc'd; *out_len is its length. */
static inline char *outlayer_input(size_t *out_len) {
  size_t len = 0, cap = 4096;
  char *data = (char *)malloc(cap + 1);
  size_t n;
  while (data != NULL && (n = fread(data + len, 1, cap - len, stdin)) > 0) {
    len += n;
    if (len == cap) {
      char *bigger = (char *)realloc(data, cap * 2 + 1);
      if (bigger == NULL) free(data);
      data = bigger;
      cap *= 2;
    }
  }
  if (data != NULL) data[len] = '\0';
  if (out_len != NULL) *out_len = data != NULL ? len : 0;
  return data;
}

/* Writes the run's output (stdout). */
static inline void outlayer_output(const void *data, size_t len) {
  fwrite(data, 1, len, stdout);
  fflush(stdout);
}

/* An environment variable (the platform's own, such as NEAR_SENDER_ID, or a secret the request
 * names); NULL when unset or empty. */
static inline const char *outlayer_env(const char *name) {
  const char *value = getenv(name);
  return value != NULL && value[0] != '\0' ? value : NULL;
}

/* storage_get of a NUL-terminated key into a malloc'd, NUL-terminated copy (*value, *value_len);
 * returns the status (>= 0: the length; OUTLAYER_NOT_FOUND: no such key, *value is NULL). */
static inline int64_t outlayer_get(const char *key, uint32_t flags, char **value,
                                   size_t *value_len) {
  int64_t status = outlayer_storage_get(key, strlen(key), flags);
  *value = status >= 0 ? outlayer_result_take(status, value_len) : NULL;
  return status;
}

static inline int64_t outlayer_set(const char *key, const void *value, size_t value_len,
                                   uint32_t flags) {
  return outlayer_storage_set(key, strlen(key), value, value_len, flags);
}

/* storage_increment of a NUL-terminated key; the new total in *total. Returns the status. */
static inline int64_t outlayer_increment(const char *key, int64_t delta, uint32_t flags,
                                         int64_t *total) {
  int64_t status = outlayer_storage_increment(key, strlen(key), delta, flags);
  if (status >= 0) {
    char digits[32];
    size_t n = outlayer_result_read(digits, sizeof digits - 1);
    digits[n] = '\0';
    *total = strtoll(digits, NULL, 10);
  }
  return status;
}

/* random(seed): the JSON answer ({"output", "proof", "public_key", "origin", "seed",
 * "prover"}) in a malloc'd string, or NULL with *status set to the failure. */
static inline char *outlayer_random_json(const void *seed, size_t seed_len, int64_t *status) {
  *status = outlayer_random(seed, seed_len);
  return *status >= 0 ? outlayer_result_take(*status, NULL) : NULL;
}

/* Writes `text` as a JSON string literal (quotes included) to `out`. */
static inline void outlayer_json_string(FILE *out, const char *text, size_t len) {
  fputc('"', out);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
    else if (c < 0x20) fprintf(out, "\\u%04x", c);
    else fputc(c, out);
  }
  fputc('"', out);
}

#ifdef __cplusplus
}
#endif
#endif /* OUTLAYER_H */
