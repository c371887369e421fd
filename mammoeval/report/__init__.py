"""The offline HTML report: gather (`data`), draw (`plots`, `grids`), render (`html`); entry point `build`."""
