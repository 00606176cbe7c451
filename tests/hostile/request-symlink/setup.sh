ln -s ../../promises/app.yaml requests/app/link.yaml
