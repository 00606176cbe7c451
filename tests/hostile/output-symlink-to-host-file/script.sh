ln -s /etc/passwd "$KRATIX_OUTPUT/passwd.yaml"
