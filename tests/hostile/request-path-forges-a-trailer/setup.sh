name=$(printf 'requests/app/x\nPromised-Digest: forged.yaml')
cat > "$name" <<YAML
apiVersion: test.promised.dev/v1
kind: App
metadata:
  name: forger
  namespace: team
spec:
  size: small
YAML
