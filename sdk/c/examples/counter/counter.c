/* A counter that persists in storage across calls (OutLayer guest in C): counts every call and
 * remembers the last input. The first call finds no last input: storage answers
 * OUTLAYER_NOT_FOUND, shown as previous_error. */
#include "../../outlayer.h"

int main(void) {
  size_t input_len = 0;
  char *input = outlayer_input(&input_len);
  char why[512];
  int64_t count = 0;
  int64_t status = outlayer_increment("count", 1, 0, &count);
  if (status < 0) {
    fprintf(stderr, "counting calls: %s\n", outlayer_error_text(status, why, sizeof why));
    return 1;
  }
  char *previous = NULL;
  size_t previous_len = 0;
  const char *previous_error = NULL;
  status = outlayer_get("last_input", 0, &previous, &previous_len);
  if (status == OUTLAYER_NOT_FOUND) {
    previous_error = outlayer_error_text(status, why, sizeof why);
  } else if (status < 0) {
    fprintf(stderr, "reading the last input: %s\n", outlayer_error_text(status, why, sizeof why));
    return 1;
  }
  status = outlayer_set("last_input", input, input_len, 0);
  if (status < 0) {
    fprintf(stderr, "remembering the input: %s\n", outlayer_error_text(status, why, sizeof why));
    return 1;
  }
  printf("{\"language\":\"c\",\"count\":%lld,\"previous_input\":", (long long)count);
  if (previous != NULL) outlayer_json_string(stdout, previous, previous_len);
  else fputs("null", stdout);
  fputs(",\"previous_error\":", stdout);
  if (previous_error != NULL) outlayer_json_string(stdout, previous_error, strlen(previous_error));
  else fputs("null", stdout);
  fputs("}", stdout);
  free(previous);
  free(input);
  return 0;
}
