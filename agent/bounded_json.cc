#include "bounded_json.h"

#include <fmt/format.h>

#include <set>
#include <vector>

namespace zkspool::agent {
namespace {

using nlohmann::json;

std::string Quoted(const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); }

// Builds the DOM through nlohmann's own SAX DOM builder, enforcing the limits on the way, and
// writes the top-level "id" member's value again as compact text with its numbers as written.
class LimitingSax {
 public:
  LimitingSax(json& root, const JsonLimits& limits) : dom_(root, /*allow_exceptions=*/false), limits_(limits) {}

  bool null() { return Value("null") && dom_.null(); }
  bool boolean(bool v) { return Value(v ? "true" : "false") && dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return Value(std::to_string(v)) && dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return Value(std::to_string(v)) && dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const std::string& text) { return Value(text) && dom_.number_float(v, text); }
  bool string(std::string& v) { return Value(Quoted(v)) && dom_.string(v); }
  bool binary(json::binary_t& v) { return Value("null") && dom_.binary(v); }  // not produced from JSON text

  bool start_object(std::size_t n) { return Open(true, "{") && dom_.start_object(n); }
  bool end_object() { return Close("}") && dom_.end_object(); }
  bool start_array(std::size_t n) { return Open(false, "[") && dom_.start_array(n); }
  bool end_array() { return Close("]") && dom_.end_array(); }

  bool key(std::string& k) {
    if (!frames_.back().keys.insert(k).second) return Fail("has the key " + Quoted(k) + " twice in one object");
    if (capturing_) {
      Separate();
      id_text_ += Quoted(k) + ":";
      after_key_ = true;
    } else if (frames_.size() == 1 && k == "id") {
      id_next_ = true;
    }
    return dom_.key(k);
  }

  bool parse_error(std::size_t position, const std::string& token, const nlohmann::detail::exception& e) {
    if (error_.empty()) error_ = fmt::format("is not valid JSON (at byte {})", position);
    return dom_.parse_error(position, token, e);
  }

  const std::string& error() const { return error_; }
  std::optional<std::string> id_text() const { return id_done_ ? std::optional<std::string>(id_text_) : std::nullopt; }

 private:
  struct Frame {
    bool object;
    size_t items = 0;
    std::set<std::string> keys;
  };

  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  // Every value (scalar or container start) counts as an item of the array it is in.
  bool Counted() {
    if (!frames_.empty() && !frames_.back().object && ++frames_.back().items > limits_.max_array_items) {
      return Fail(fmt::format("has an array of more than {} items, the limit", limits_.max_array_items));
    }
    return true;
  }

  void Separate() {
    if (after_key_) {
      after_key_ = false;
    } else if (!first_.empty()) {
      if (!first_.back()) id_text_ += ',';
      first_.back() = false;
    }
  }

  bool Value(const std::string& text) {
    if (!Counted()) return false;
    if (id_next_) {
      id_next_ = false;
      id_text_ = text;
      id_done_ = true;
    } else if (capturing_) {
      Separate();
      id_text_ += text;
    }
    return true;
  }

  bool Open(bool object, const char* bracket) {
    if (!Counted()) return false;
    if (frames_.size() + 1 > limits_.max_depth) {
      return Fail(fmt::format("nests objects and arrays deeper than {} levels, the limit", limits_.max_depth));
    }
    frames_.push_back(Frame{object, 0, {}});
    if (id_next_) {
      id_next_ = false;
      capturing_ = true;
      id_text_.clear();
    } else if (capturing_) {
      Separate();
    }
    if (capturing_) {
      id_text_ += bracket;
      first_.push_back(true);
    }
    return true;
  }

  bool Close(const char* bracket) {
    frames_.pop_back();
    if (capturing_) {
      id_text_ += bracket;
      first_.pop_back();
      if (first_.empty()) {
        capturing_ = false;
        id_done_ = true;
      }
    }
    return true;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  const JsonLimits& limits_;
  std::vector<Frame> frames_;
  std::string error_;
  // The top-level "id": the next value is it (id_next_), it is being written (capturing_,
  // first_ per open container: no comma needed yet; after_key_: a value follows its key).
  bool id_next_ = false;
  bool capturing_ = false;
  bool id_done_ = false;
  bool after_key_ = false;
  std::vector<bool> first_;
  std::string id_text_;
};

}  // namespace

Result<BoundedJson> ParseBoundedJson(std::string_view text, const JsonLimits& limits) {
  BoundedJson out;
  LimitingSax sax(out.value, limits);
  const bool ok = json::sax_parse(text, &sax, json::input_format_t::json, /*strict=*/true);
  if (!ok || !sax.error().empty()) {
    return Status::InvalidArgument(sax.error().empty() ? "is not valid JSON" : sax.error());
  }
  out.id_text = sax.id_text();
  return out;
}

}  // namespace zkspool::agent
