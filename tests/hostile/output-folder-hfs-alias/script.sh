d=$(printf '.g\342\200\214it')
mkdir -p "$KRATIX_OUTPUT/$d"
set -- "$KRATIX_OUTPUT/$d/cm.yaml"
cat > "$1" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: evil}
YAML
