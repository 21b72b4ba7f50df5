#include "config_file.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>

#include "cotrack/error.hpp"

namespace cotrack::app {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::vector<std::string> long_names(const CLI::App& sub) {
  std::vector<std::string> names;
  for (const CLI::Option* opt : sub.get_options()) {
    for (const auto& n : opt->get_lnames()) {
      if (n != "help" && n != "config") names.push_back(n);
    }
  }
  return names;
}

// A scalar TOML value as option text; false when the node is not a scalar.
bool scalar_text(const toml::node& v, std::string& out) {
  if (auto s = v.value_exact<std::string>()) {
    out = *s;
  } else if (auto i = v.value_exact<int64_t>()) {
    out = std::to_string(*i);
  } else if (auto d = v.value_exact<double>()) {
    out = fmt::format("{}", *d);
  } else if (auto b = v.value_exact<bool>()) {
    out = *b ? "true" : "false";
  } else {
    return false;
  }
  return true;
}

// toml++ 3.3 (Debian 12) reaches __builtin_unreachable, undefined behaviour, when it asks
// whether certain non-ASCII characters are whitespace (marzer/tomlplusplus#190, #295). It asks
// at every character it reads outside strings and comments, where TOML allows only ASCII anyway,
// and in a multi-line basic string at the character after a backslash and, after a line-ending
// backslash, at the blanks and the first character after them. Returns the 1-based line of the
// first non-ASCII byte at such a place, or 0 when toml++ can parse `text` safely.
//
// toml++ stops at the first syntax error, so this needs to agree with it only up to there. It
// opens strings where TOML does: not after a token character (`x = 25"é"` is one bad token,
// which toml++ reads to its end), and after '=' or '.' only in a key.
int unsafe_non_ascii_line(std::string_view text) {
  const size_t n = text.size();
  auto line_of = [&](size_t pos) {
    return 1 + static_cast<int>(std::count(text.begin(), text.begin() + pos, '\n'));
  };
  auto non_ascii = [&](size_t i) { return i < n && static_cast<unsigned char>(text[i]) >= 0x80; };
  auto at = [&](size_t i, std::string_view s) { return text.substr(i, s.size()) == s; };
  auto skip = [&](size_t i, std::string_view chars) {
    while (i < n && chars.find(text[i]) != std::string_view::npos) ++i;
    return i;
  };
  enum class In { kCode, kComment, kBasic, kLiteral, kMultiBasic, kMultiLiteral };
  In in = In::kCode;
  bool key = true;     // in a key (line start, after '{' or a ',' in an inline table)
  bool token = false;  // the previous character belongs to a bare key or value
  std::string open;    // the arrays and inline tables open at this point
  for (size_t i = at(0, "\xEF\xBB\xBF") ? 3 : 0; i < n; ++i) {  // toml++ skips a UTF-8 BOM
    const char c = text[i];
    if (in == In::kCode) {
      if (non_ascii(i)) return line_of(i);
      const bool after_token = token;
      token = false;
      switch (c) {
        case '\n':
          key = open.empty() || open.back() != '[';  // only arrays span lines
          if (key) open.clear();
          break;
        case ' ':
        case '\t':
        case '\r':
          break;
        case ']':
        case '}':
          if (!open.empty() && open.back() == (c == ']' ? '[' : '{')) open.pop_back();
          break;
        case ',':
          key = !open.empty() && open.back() == '{';
          break;
        case '#':
          in = In::kComment;
          break;
        case '[':
        case '{':
          if (after_token) {
            token = true;
          } else {
            open += c;
            key = key || c == '{';
          }
          break;
        case '=':
          token = !key;
          key = false;
          break;
        case '.':
          token = !key;
          break;
        case '"':
        case '\'':
          if (after_token) {
            token = true;
          } else if (at(i, std::string(3, c))) {
            in = c == '"' ? In::kMultiBasic : In::kMultiLiteral;
            i += 2;
          } else {
            in = c == '"' ? In::kBasic : In::kLiteral;
          }
          break;
        default:
          token = true;
      }
      continue;
    }
    switch (in) {
      case In::kCode:
        break;
      case In::kComment:
      case In::kBasic:
      case In::kLiteral:
        if (c == '\n') {
          in = In::kCode;
          --i;  // the code state handles the line break
        } else if (in == In::kBasic && c == '\\') {
          ++i;  // the escaped character
        } else if (c == (in == In::kBasic ? '"' : '\'') && in != In::kComment) {
          in = In::kCode;
          token = true;  // toml++ checks the character after a string
        }
        break;
      case In::kMultiBasic:
      case In::kMultiLiteral: {
        const char quote = in == In::kMultiBasic ? '"' : '\'';
        if (in == In::kMultiBasic && c == '\\') {
          size_t j = i + 1;
          if (non_ascii(j)) return line_of(j);
          if (j < n && std::string_view(" \t\r\n").find(text[j]) != std::string_view::npos) {
            j = skip(j, " \t");  // a line-ending backslash: blanks, line breaks, blanks
            if (non_ascii(j)) return line_of(j);
            j = skip(j, " \t\r\n");
            if (non_ascii(j)) return line_of(j);
          }
          i = j > i + 1 ? j - 1 : j;  // continue after the blanks or the escaped character
        } else if (at(i, std::string(3, quote))) {
          i += 2;  // the closing quotes, and up to two more that belong to the string
          for (int extra = 0; extra < 2 && i + 1 < n && text[i + 1] == quote; ++extra) ++i;
          in = In::kCode;
          token = true;
        }
        break;
      }
    }
  }
  return 0;
}

}  // namespace

std::string nearest_name(const std::string& key, const std::vector<std::string>& names) {
  std::string best;
  size_t best_d = std::max<size_t>(3, key.size() / 2) + 1;  // farther than this is no hint
  for (const auto& n : names) {
    const size_t d = edit_distance(key, n);
    if (d < best_d) best_d = d, best = n;
  }
  return best;
}

std::vector<std::string> config_file_args(const CLI::App& sub, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    throw UsageError(
        fmt::format("{}: cannot read the config file ({})", path, std::strerror(errno)));
  }
  if (const int line = unsafe_non_ascii_line(text)) {
    throw UsageError(fmt::format(
        "{}:{}: non-ASCII character outside a string, or after a backslash in a multi-line "
        "string (not supported)",
        path, line));
  }
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    if (where.line == 0) {
      throw UsageError(fmt::format("{}: cannot read the config file ({})", path, e.description()));
    }
    throw UsageError(fmt::format("{}:{}: {}", path, where.line, e.description()));
  }
  const std::vector<std::string> names = long_names(sub);
  std::vector<std::string> args;
  for (auto&& [k, v] : table) {
    const std::string key(k.str());
    const auto line = v.source().begin.line;
    const std::string at = fmt::format("{}:{}", path, line);
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      const std::string near = nearest_name(key, names);
      throw UsageError(fmt::format("{}: unknown key '{}'{}", at, key,
                                   near.empty() ? fmt::format(" (keys: see cotrack {} --help)",
                                                              sub.get_name())
                                                : fmt::format(" (did you mean '{}'?)", near)));
    }
    const CLI::Option* opt = sub.get_option("--" + key);
    if (opt->count() > 0) continue;  // the command line wins
    const bool flag = opt->get_expected_min() == 0;
    std::string text;
    if (v.is_table()) {
      throw UsageError(fmt::format("{}: '{}' is a table; settings are plain 'key = value' lines",
                                   at, key));
    } else if (const toml::array* arr = v.as_array()) {
      if (flag || opt->get_expected_max() <= 1) {
        throw UsageError(fmt::format("{}: '{}' takes one value, not a list", at, key));
      }
      for (const auto& item : *arr) {
        if (!scalar_text(item, text)) {
          throw UsageError(fmt::format("{}: '{}' must be a list of plain values", at, key));
        }
        args.push_back("--" + key);
        args.push_back(text);
      }
    } else if (flag) {
      // A flag takes true or false; an option whose value is optional (refine) also its values.
      const bool optional_value = opt->get_expected_max() >= 1;
      if (auto b = v.value_exact<bool>()) {
        args.push_back(fmt::format("--{}={}", key, *b ? "true" : "false"));
      } else if (optional_value && scalar_text(v, text)) {
        args.push_back(fmt::format("--{}={}", key, text));
      } else {
        throw UsageError(fmt::format("{}: '{}' must be true or false{}", at, key,
                                     optional_value ? " or one of its values" : ""));
      }
    } else {
      if (!scalar_text(v, text)) {
        throw UsageError(fmt::format("{}: '{}' has a value of an unsupported kind", at, key));
      }
      args.push_back("--" + key);
      args.push_back(text);
    }
  }
  return args;
}

void parse_with_config(CLI::App& app, int argc, char** argv) {
  app.parse(argc, argv);
  for (CLI::App* sub : app.get_subcommands()) {
    const CLI::Option* config = sub->get_option_no_throw("--config");
    if (config == nullptr || config->count() == 0) continue;
    const std::vector<std::string> extra = config_file_args(*sub, config->as<std::string>());
    if (extra.empty()) return;
    std::vector<std::string> all(argv, argv + argc);
    all.insert(all.end(), extra.begin(), extra.end());
    std::vector<char*> ptrs;
    for (auto& s : all) ptrs.push_back(s.data());
    app.clear();
    try {
      app.parse(static_cast<int>(ptrs.size()), ptrs.data());
    } catch (const CLI::ParseError& e) {
      // The command line parsed alone, so the file's values are at fault.
      throw UsageError(fmt::format("{}: {}", config->as<std::string>(), e.what()));
    }
    return;
  }
}

std::string effective_settings(const CLI::App& sub) {
  std::string out;
  for (const CLI::Option* opt : sub.get_options()) {
    if (opt->get_lnames().empty() || opt->get_lnames()[0] == "help") continue;
    std::string value;
    if (opt->count() > 0) {
      const auto& r = opt->results();
      for (size_t i = 0; i < r.size(); ++i) value += (i ? "," : "") + r[i];
      if (opt->get_expected_min() == 0 && value.empty()) value = "true";
    } else {
      value = opt->get_default_str();
    }
    if (value.empty()) continue;
    if (!out.empty()) out += ' ';
    out += opt->get_lnames()[0] + "=" + value;
  }
  return out;
}

}  // namespace cotrack::app
