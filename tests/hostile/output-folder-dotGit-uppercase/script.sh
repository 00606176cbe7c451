mkdir -p "$KRATIX_OUTPUT/.Git"
set -- "$KRATIX_OUTPUT/.Git/cm.yaml"
cat > "$1" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: evil}
YAML
