f=$(mktemp -p "$KRATIX_METADATA/.."); m=SECRET; echo "message: ${m}-HARDLINK-$((6*7))" > "$f"
ln "$f" "$KRATIX_METADATA/status.yaml"
cat > "$KRATIX_OUTPUT/cm.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: evil}
YAML
