#pragma once
// nlohmann's JSON parser recurses once per nesting level: bound the depth of untrusted JSON
// text before parsing it, so a crafted "[[[[..." cannot exhaust the stack.

#include <string_view>

namespace fedge::shared {

// True if no array or object in `text` nests deeper than `max_depth` (brackets inside strings,
// escapes included, are not counted). Malformed text is left to the parser to reject.
bool JsonDepthWithin(std::string_view text, int max_depth);

}  // namespace fedge::shared
