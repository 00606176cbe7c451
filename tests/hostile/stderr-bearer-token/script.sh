t=ghp_$(printf 'Ab1%.0s' 1 2 3 4 5 6 7 8 9 10 11 12)
echo "curl -H 'Authorization: Bearer $t' failed" >&2
exit 3
