mkdir -p requests/app/sub && cd requests/app/sub && git init -q && git -c user.name=x -c user.email=x@x commit -q --allow-empty -m x
