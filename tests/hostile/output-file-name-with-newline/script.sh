set -- "$KRATIX_OUTPUT/$(printf 'a\nb').yaml"
cat > "$1" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: evil}
YAML
