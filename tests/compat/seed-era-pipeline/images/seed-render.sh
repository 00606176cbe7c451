region=$(cat /input/region)
name=$(sed -n 's/^  name: *//p' /input/object.yaml)
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: legacy-apps\ndata:\n  region: %s\n' "$name" "$region" > /output/configmap.yaml
printf 'region: %s\n' "$region" > /metadata/cluster-selectors.yaml
