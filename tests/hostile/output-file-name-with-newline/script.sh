configmap "$KRATIX_OUTPUT/$(printf 'a\nb').yaml"
