/* playbook.h - the whisper playbook: what to tell an agent after an alert.
 *
 * The playbook is data (models/playbook-en.json, models/playbook-zh.json):
 *   {"lang": "en",
 *    "about": "free text, ignored",                          (optional)
 *    "kinds": {
 *      "anger": {
 *        "prompts":    {"info": [...], "warning": [...], "critical": [...]},
 *        "situations": {"deceived": [...], "unfair": [...]}, (optional)
 *        "priority": 2,                                      (optional, 0..100, default 0)
 *        "compliance": false                                 (optional, default false)
 *      },
 *      ... one entry for every kind of the taxonomy ...
 *    }}
 * - Every kind of the taxonomy (anger, despair, escalation, flat_affect,
 *   talk_over, dead_air) must be present with a non-empty list per severity.
 * - A situation is the `category` of the evidence that fired the alert (the
 *   cue lexicon's categories: "repeat_contact", "regulator", ...); when an
 *   alert's evidence names a category the kind has prompts for, those are
 *   used instead of the severity's, because they fit what was said.
 * - priority orders the kinds for the whisper rate limit (whisper.h): a
 *   prompt of a kind of higher priority than the agent's last one is not
 *   held back by it. compliance marks kinds whose prompts the rate limit
 *   never holds back (escalation: a threat to go to a lawyer or regulator).
 * - A prompt is one line: non-empty, no control characters, at most
 *   CW_PROMPT_MAX bytes of UTF-8.
 * - Unknown keys or kinds, empty lists, wrong types: errors naming the file
 *   and the JSON path ("playbook-en.json: $.kinds.anger.prompts.warning[1]:
 *   not a string").
 *
 * A loaded playbook is immutable: any thread may read it; strings returned
 * are owned by the playbook and valid until it is destroyed.
 */
#ifndef CALLWATCH_PLAYBOOK_H
#define CALLWATCH_PLAYBOOK_H

#include "callwatch/error.h"

#include <stddef.h>

#define CW_PLAYBOOK_PRIORITY_MIN 0
#define CW_PLAYBOOK_PRIORITY_MAX 100

/* Longest prompt in bytes (without the NUL). */
#define CW_PROMPT_MAX 240

typedef struct cw_playbook cw_playbook_t;

/* The alert kinds of the taxonomy, in BRIEF.md's order. */
extern const char *const cw_playbook_kinds[];
extern const size_t cw_playbook_n_kinds;

cw_playbook_t *cw_playbook_load(const char *path, cw_error_t *err);

/* Same, from a string; origin names it in messages. */
cw_playbook_t *cw_playbook_load_string(const char *text, const char *origin, cw_error_t *err);

void cw_playbook_destroy(cw_playbook_t **pb);

/* "en" or "zh". */
const char *cw_playbook_lang(const cw_playbook_t *pb);

/* The prompts for an alert of kind at severity ("info", "warning",
 * "critical"), or for situation when the kind has prompts for it (situation
 * may be NULL). Sets *n and returns the list (n >= 1), or NULL with *n = 0
 * when kind or severity is unknown. */
const char *const *cw_playbook_prompts(const cw_playbook_t *pb, const char *kind, const char *severity,
                                       const char *situation, size_t *n);

/* True when the kind has prompts of its own for this situation. */
int cw_playbook_has_situation(const cw_playbook_t *pb, const char *kind, const char *situation);

/* The kind's priority (CW_PLAYBOOK_PRIORITY_MIN..MAX; 0 for an unknown kind
 * or when the playbook gives none). */
int cw_playbook_priority(const cw_playbook_t *pb, const char *kind);

/* True when the playbook marks the kind as compliance (its prompts pre-empt
 * the whisper rate limit); false for an unknown kind. */
int cw_playbook_is_compliance(const cw_playbook_t *pb, const char *kind);

#endif
