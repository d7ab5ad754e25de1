/*
 * json_strict.h - what json-c takes, even strict, that JSON does not.
 * The HTTP door's bodies and the config file both refuse it: bytes no
 * JSON text holds (single quotes, NaN and Infinity, raw control
 * characters in strings), and a key given twice in one object, whose
 * first value json-c would drop unsaid.
 */
#ifndef MC_JSON_STRICT_H
#define MC_JSON_STRICT_H

#include <stddef.h>

/*
 * Deepest nesting mc_json_dup_key() follows: json-c's own default
 * (JSON_TOKENER_DEFAULT_DEPTH), the depth its callers parse with.
 */
#define MC_JSON_DEPTH 32

/*
 * The offset of the first byte of [@p, @p + @n) that no JSON text holds
 * there, or @n when there is none. Outside strings only structure,
 * numbers as RFC 8259 writes them (no 00, -01, 1. or 00.5) and the
 * letters of true, false and null may appear; inside them no control
 * character and no half of a surrogate pair. A NUL anywhere (where json-c would
 * stop) counts too. Call it before json-c parses the text.
 */
size_t mc_json_plain(const char *p, size_t n);
/*
 * What the byte at @at that mc_json_plain() stopped at is, for a message:
 * "NUL byte" (also at @n), "control character", "half of a \\u
 * surrogate pair" (an escape of U+D800..U+DFFF that is not a high half
 * followed by a low one, which json-c would turn into U+FFFD unsaid) or
 * "character".
 */
const char *mc_json_plain_what(const char *p, size_t n, size_t at);

/*
 * Finds the first key given twice in one object of the JSON text [@p,
 * @p + @n), which json-c has parsed whole, at most MC_JSON_DEPTH deep.
 * Keys compare as json-c decodes them, so "a" and "\u0061" are one key,
 * and a key in single quotes (json-c takes them, even strict) is seen
 * too. Returns 0 when every object's keys differ; 1 with [@p + *@at,
 * + *@len) the second one's name as written (inside its quotes, escapes
 * as they are); -ENOMEM.
 */
int mc_json_dup_key(const char *p, size_t n, size_t *at, size_t *len);

#endif
