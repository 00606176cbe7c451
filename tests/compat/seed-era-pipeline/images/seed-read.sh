sed -n 's/^  region: *//p' /input/object.yaml > /output/region
cp /input/object.yaml /output/object.yaml
