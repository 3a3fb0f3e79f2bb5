/* The block's editor side (no build step): a placeholder with its settings. The page shows
   the widget, rendered by the plugin's PHP (shopreco_render_block). */
( function ( blocks, element, components, blockEditor, i18n ) {
	var el = element.createElement;
	var __ = i18n.__;
	var placements = [
		[ 'bundle', __( 'Frequently bought together (product page)', 'shopreco' ) ],
		[ 'also_bought', __( 'Customers also bought (product page)', 'shopreco' ) ],
		[ 'cart', __( 'Complete your order (cart page)', 'shopreco' ) ],
		[ 'thank_you', __( 'Picked for you (order received page)', 'shopreco' ) ],
		[ 'home', __( 'Recommended for you', 'shopreco' ) ],
		[ 'trending', __( 'Trending now', 'shopreco' ) ],
		[ 'buy_again', __( 'Buy it again (signed-in customers)', 'shopreco' ) ],
		[ 'recently_viewed', __( 'Recently viewed', 'shopreco' ) ],
		[ 'inspired_by_browsing', __( 'Inspired by your browsing', 'shopreco' ) ]
	].map( function ( p ) { return { value: p[ 0 ], label: p[ 1 ] }; } );

	blocks.registerBlockType( 'shopreco/recommendations', {
		edit: function ( props ) {
			var a = props.attributes;
			var set = function ( name ) {
				return function ( value ) {
					var change = {};
					change[ name ] = value;
					props.setAttributes( change );
				};
			};
			return el( 'div', blockEditor.useBlockProps(),
				el( components.Placeholder, {
					icon: 'products',
					label: __( 'shopreco recommendations', 'shopreco' ),
					instructions: __( 'The widget shows on the published page.', 'shopreco' )
				},
					el( components.SelectControl, { label: __( 'Placement', 'shopreco' ),
						value: a.placement, options: placements, onChange: set( 'placement' ) } ),
					el( components.TextControl, { label: __( 'Product ID (empty: the page\'s product)', 'shopreco' ),
						value: a.productId, onChange: set( 'productId' ) } ),
					el( components.RangeControl, { label: __( 'Products', 'shopreco' ),
						value: a.limit, min: 1, max: 12, onChange: set( 'limit' ) } ),
					el( components.TextControl, { label: __( 'Heading (empty: the widget\'s own)', 'shopreco' ),
						value: a.heading, onChange: set( 'heading' ) } )
				)
			);
		},
		save: function () {
			return null;
		}
	} );
} )( window.wp.blocks, window.wp.element, window.wp.components, window.wp.blockEditor, window.wp.i18n );
