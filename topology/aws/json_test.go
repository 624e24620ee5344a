package aws

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseJSONPositions(t *testing.T) {
	src := "\xEF\xBB\xBF{\r\n  \"a\": [1, {\"b\": \"x\\u00e9\"}],\n\t\"c\" : null, \"d\": -1.5e3, \"e\": true\n}"
	n, err := parseJSON([]byte(src))
	require.NoError(t, err)
	assert.Equal(t, [2]int{1, 1}, [2]int{n.line, n.col}, "the BOM takes no column")
	a := n.get("a")
	assert.Equal(t, [2]int{2, 8}, [2]int{a.line, a.col})
	b := a.vals[1].get("b")
	assert.Equal(t, [2]int{2, 18}, [2]int{b.line, b.col})
	assert.Equal(t, "xé", b.text)
	assert.Equal(t, kNull, n.get("c").kind)
	assert.Equal(t, "-1.5e3", n.get("d").text)
	assert.Equal(t, [2]int{3, 2}, n.keyPos[1])
}

func TestParseJSONErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "1:1: invalid JSON: empty input: expected a JSON object"},
		{"{} x", "1:4: invalid JSON: unexpected 'x' after the JSON value"},
		{"{\"a\" 1}", "1:6: invalid JSON: unexpected '1': expected ':' after key \"a\""},
		{"{\"a\": 1,}", "1:9: invalid JSON: trailing comma before '}'"},
		{"[1,]", "1:4: invalid JSON: trailing comma before ']'"},
		{"[1 2]", "1:4: invalid JSON: unexpected '2': expected ',' or ']' after an array element"},
		{"{\"a\": 01}", "1:8: invalid JSON: unexpected '1': expected ',' or '}' after the value of \"a\""},
		{"{\"a\": -}", "1:8: invalid JSON: malformed number"},
		{"{\"a\": 1.}", "1:9: invalid JSON: malformed number"},
		{"{\"a\": tru}", "1:7: invalid JSON: unexpected 't': expected a value"},
		{"{\"a\": \"\\q\"}", "1:7: invalid JSON: bad escape in string"},
		{"{\"a\": \"x", "1:9: invalid JSON: unterminated string"},
		{"{\"a\": \"x\\", "1:10: invalid JSON: unterminated string"},
		{"{\n\"a\": 1, \"a\": 2}", "2:9: duplicate key \"a\""},
		{"{'a': 1}", "1:2: invalid JSON: unexpected '\\'': expected a quoted key"},
		{"{\"a\": [", "1:8: invalid JSON: unexpected end of input: expected a value"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := parseJSON([]byte(tt.in))
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}
