d=$(printf '.g\342\200\214it')
mkdir -p "$KRATIX_OUTPUT/$d"
configmap "$KRATIX_OUTPUT/$d/cm.yaml"
