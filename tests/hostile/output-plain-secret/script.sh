v=$(printf 'c3VwZXItc2VjcmV0'); cat > "$KRATIX_OUTPUT/secret.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata: {name: db}
data:
  password: ${v}LTQy
YAML
