package web

import (
	"crypto/rand"
	"encoding/hex"
	"sort"
	"strconv"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func sortStrings(s []string) { sort.Strings(s) }
