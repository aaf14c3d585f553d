// An OutLayer guest in C++ (libc++ for WASI): counts the words of its input and answers JSON.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

static std::string json_string(const std::string& text) {
  std::ostringstream out;
  out << '"';
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') out << '\\' << c;
    else if (c < 0x20) { char buf[8]; std::snprintf(buf, sizeof buf, "\\u%04x", c); out << buf; }
    else out << c;
  }
  out << '"';
  return out.str();
}

int main() {
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::map<std::string, int> counts;
  std::istringstream words(input);
  std::string word;
  while (words >> word) ++counts[word];
  std::vector<std::pair<std::string, int>> ranked(counts.begin(), counts.end());
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  const char* greeting = std::getenv("GREETING");
  std::cerr << "word-count (C++): read " << input.size() << " bytes of input\n";
  std::cout << "{\"language\":\"c++\",\"greeting\":" << json_string(greeting ? greeting : "hello")
            << ",\"words\":" << [&] { int n = 0; for (auto& p : ranked) n += p.second; return n; }()
            << ",\"top\":[";
  for (size_t i = 0; i < ranked.size() && i < 3; ++i)
    std::cout << (i ? "," : "") << "[" << json_string(ranked[i].first) << "," << ranked[i].second << "]";
  std::cout << "]}";
  return 0;
}
