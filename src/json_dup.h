/*
 * json_dup.h - a key given twice in one object of a JSON text. json-c
 * keeps the last value of such a key, so the first would be dropped
 * unsaid; the HTTP door's bodies and the config file both refuse it.
 */
#ifndef MC_JSON_DUP_H
#define MC_JSON_DUP_H

#include <stddef.h>

/*
 * Deepest nesting mc_json_dup_key() follows: json-c's own default
 * (JSON_TOKENER_DEFAULT_DEPTH), the depth its callers parse with.
 */
#define MC_JSON_DEPTH 32

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
