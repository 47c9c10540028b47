// SPDX-License-Identifier: MIT
/*
 * Numbers as the upcall CLI takes them, in one place: the command line
 * and batch files share every rule.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

static unsigned int suffix_shift(char c)
{
	switch (c) {
	case 'K': case 'k':
		return 10;
	case 'M': case 'm':
		return 20;
	case 'G': case 'g':
		return 30;
	case 'T': case 't':
		return 40;
	default:
		return 0;
	}
}

static bool is_hex_prefix(const char *p)
{
	return p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
}

int parse_u64(const char *s, uint64_t max, bool suffix, uint64_t *ret)
{
	const char *p = s;
	unsigned int shift = 0;
	int base = 10;
	uint64_t v;
	char *end;

	if (is_hex_prefix(p)) {
		base = 16;
		p += 2;
		/* strtoull would take a second prefix: "0x0x1". */
		if (is_hex_prefix(p))
			return -EINVAL;
	}
	/* No sign, no blanks: strtoull would skip or wrap them. */
	if (base == 16 ? !isxdigit((unsigned char)*p) :
			 !isdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	v = strtoull(p, &end, base);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno)
		return -EINVAL;
	if (suffix && *end) {
		shift = suffix_shift(*end);
		if (shift)
			end++;
	}
	if (*end)
		return -EINVAL;
	if (shift && v > UINT64_MAX >> shift)
		return -ERANGE;
	v <<= shift;
	if (v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

/* A hex number of 1 to @maxlen digits, as lspci writes slots. */
static int parse_hex_field(const char *s, size_t len, size_t maxlen,
			   unsigned int *ret)
{
	unsigned int v = 0;
	size_t i;

	if (len == 0 || len > maxlen)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!isxdigit((unsigned char)c))
			return -EINVAL;
		v = v * 16 + (unsigned int)(isdigit((unsigned char)c) ?
					    c - '0' : (c | 0x20) - 'a' + 10);
	}
	*ret = v;
	return 0;
}

int parse_devfn(const char *s, uint8_t *ret)
{
	const char *dot = strchr(s, '.');
	const char *slot = s;
	unsigned int sl, fn;
	uint64_t v;
	int r;

	if (!dot) {
		r = parse_u64(s, UINT8_MAX, false, &v);
		if (r == 0)
			*ret = (uint8_t)v;
		return r;
	}
	if (is_hex_prefix(slot))
		slot += 2;
	if (slot > dot ||
	    parse_hex_field(slot, (size_t)(dot - slot), 2, &sl) < 0 ||
	    parse_hex_field(dot + 1, strlen(dot + 1), 1, &fn) < 0)
		return -EINVAL;
	if (sl > 0x1f || fn > 7)
		return -ERANGE;
	*ret = (uint8_t)(sl << 3 | fn);
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	       c == '\v' || c == '\f';
}

int parse_words(char *line, char **words, int max)
{
	char *p = line;
	int n = 0;

	for (;;) {
		while (is_blank(*p))
			p++;
		if (!*p || *p == '#')
			return n;
		if (n == max)
			return -E2BIG;
		words[n++] = p;
		while (*p && !is_blank(*p))
			p++;
		if (!*p)
			return n;
		*p++ = '\0';
	}
}
