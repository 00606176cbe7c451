f=$(mktemp -p "$KRATIX_METADATA/.."); m=SECRET; echo "message: ${m}-HARDLINK-$((6*7))" > "$f"
ln "$f" "$KRATIX_METADATA/status.yaml"
configmap "$KRATIX_OUTPUT/cm.yaml"
