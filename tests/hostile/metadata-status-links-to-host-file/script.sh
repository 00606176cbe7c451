f=$(mktemp); m=SECRET; echo "message: ${m}-HOSTFILE-$((6*7))" > "$f"
ln -s "$f" "$KRATIX_METADATA/status.yaml"
set -- "$KRATIX_OUTPUT/cm.yaml"
cat > "$1" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: evil}
YAML
