// JsonEdit: changes a few members of a JSON document and writes it out
// again without re-serialising the rest. Only the objects and arrays on the
// paths an edit walks are opened; every other value keeps its exact text
// (numbers, string escapes, key order): values are found by a scan for
// where each ends (hand-written: simdjson parses but does not hand back a
// value's text with the DOM, and its on-demand API costs a padded copy per
// level). Transform rules and the processing-stage DLQ retry use it on
// stored events. Not thread-safe.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/status.h"

namespace eventflow {

// The unescaped reference tokens of an RFC 6901 JSON Pointer ("" is the
// whole document). InvalidArgument if it does not start with "/" or has a
// "~" not followed by 0 or 1.
Result<std::vector<std::string>> ParseJsonPointer(std::string_view pointer);
// The most tokens a path that writes into an event may have (processing
// rules' targets): a set through missing parents makes one object per token,
// and a produced event is at most 64 levels deep, so what a transform writes
// stays well inside what every parser of the server takes.
inline constexpr size_t kMaxWritePathTokens = 32;

// The text of the value at `path` in `json` (one valid JSON value), as a
// view into `json`, or nullopt when there is none (a missing member, an
// index out of range, a member of a scalar). Builds nothing: filters use it
// to read one field of an event without parsing the rest.
Result<std::optional<std::string_view>> FindJsonValue(std::string_view json,
                                                      const std::vector<std::string>& path);

class JsonEdit {
 public:
  using Path = std::vector<std::string>;

  // `json` must be one valid JSON value, and outlive the JsonEdit: untouched
  // values are views into it.
  static Result<JsonEdit> Parse(std::string_view json);
  JsonEdit(JsonEdit&&) noexcept;
  JsonEdit& operator=(JsonEdit&&) noexcept;
  ~JsonEdit();

  // The text of the value at `path`, or nullopt when there is none.
  Result<std::optional<std::string>> Get(const Path& path);
  // Puts `value_json` (valid, minified JSON) at `path`: replaces a member or
  // array element, adds a member (missing parent objects are created), or
  // appends to an array with the token "-". InvalidArgument when the path
  // runs into a value that is neither (e.g. a member of a string).
  Status Set(const Path& path, std::string value_json);
  // Set without a copy: `value_json` must outlive the JsonEdit (a compiled
  // rule's constant does).
  Status SetView(const Path& path, std::string_view value_json);
  // Removes the member or element at `path`; false if there was none.
  Result<bool> Remove(const Path& path);
  // Moves the value at `from` to `to` without copying its text (Remove, then
  // Set). False, with nothing changed, when there is nothing at `from`.
  Result<bool> Move(const Path& from, const Path& to);
  // The document with the edits applied.
  std::string Serialize() const;
  // Appends the document with the edits applied to `out`.
  void SerializeTo(std::string* out) const;

 private:
  struct Node;
  struct Member;
  explicit JsonEdit(std::unique_ptr<Node> root);
  Status Put(const Path& path, Node value);
  // Takes the value at `path` out of the document; nullopt when none.
  Result<std::optional<Node>> Detach(const Path& path);
  std::string_view Keep(std::string text);

  std::unique_ptr<Node> root_;
  // Texts the edits brought in (values, escaped member names); nodes view
  // into them. A deque never moves its elements, so the views stay valid.
  std::deque<std::string> owned_;
  size_t size_hint_ = 0;  // the source's size, to reserve the output
};

}  // namespace eventflow
