f=$(mktemp); m=SECRET; echo "message: ${m}-HOSTFILE-$((6*7))" > "$f"
ln -s "$f" "$KRATIX_METADATA/status.yaml"
configmap "$KRATIX_OUTPUT/cm.yaml"
