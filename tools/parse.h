/* SPDX-License-Identifier: MIT */
/*
 * The upcall CLI's number, size, devfn and line parsing: pure functions,
 * no messages, so that tests/check_parse.c can hold them to their word.
 */
#ifndef UPCALL_TOOLS_PARSE_H
#define UPCALL_TOOLS_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The whole of @s as decimal or 0x hex (no sign, no blanks), with
 * @suffix optionally one K, M, G or T (either case, powers of 1024).
 * Returns 0 with *@ret set, -EINVAL for no number, -ERANGE for one above
 * @max (or beyond 64 bits).
 */
int parse_u64(const char *s, uint64_t max, bool suffix, uint64_t *ret);

/*
 * A PCI devfn: a number 0..255, or SLOT.FN as lspci writes it (a hex
 * slot 0..1f, optionally 0x-prefixed, and a function 0..7).  Returns 0,
 * -EINVAL for neither form, -ERANGE for a value out of range.
 */
int parse_devfn(const char *s, uint8_t *ret);

/*
 * Split @line in place into at most @max blank-separated words; a word
 * that starts with '#' starts a comment to the end of the line.  Returns
 * the number of words (0 for a blank or comment line), or -E2BIG for more
 * than @max.
 */
int parse_words(char *line, char **words, int max);

#endif /* UPCALL_TOOLS_PARSE_H */
