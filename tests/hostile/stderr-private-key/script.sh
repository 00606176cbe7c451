b=$(printf 'QUJD%.0s' $(seq 16))
printf -- "-----BEGIN RSA PRIVATE KEY-----\n%s\n-----END RSA PRIVATE KEY-----\n" "$b" >&2
exit 2
